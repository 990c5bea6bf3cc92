"""Tiny random ViTs with identical weights in timm, torchvision and transformers (shared by
the attention and by-hand tests): 32 x 32 images, 8 x 8 patches (16 + 1 tokens), width 48,
3 heads, 3 blocks, 5 classes. Built in well under a second, no download, no weights file."""

from __future__ import annotations

import torch
from torch import nn

LIBRARIES = ("torchvision", "transformers", "timm")
IMAGE_SIZE, PATCH, DIM, DEPTH, HEADS, CLASSES = 32, 8, 48, 3, 3, 5
TOKENS = (IMAGE_SIZE // PATCH) ** 2 + 1


def tiny_timm(seed: int = 0) -> nn.Module:
    """A random timm ViT, unfused, with weights large enough to give peaked attention."""
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    model = VisionTransformer(img_size=IMAGE_SIZE, patch_size=PATCH, embed_dim=DIM, depth=DEPTH,
                              num_heads=HEADS, num_classes=CLASSES)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.3)
    for block in model.blocks:
        block.attn.fused_attn = False
    return model.eval()


def tiny_trio(seed: int = 0) -> dict[str, nn.Module]:
    """library -> a tiny random ViT; the three hold the same weights."""
    from helpers.models.convert import timm_to_torchvision, timm_to_transformers

    vit = tiny_timm(seed)
    return {
        "timm": vit,
        "torchvision": timm_to_torchvision(vit),
        "transformers": timm_to_transformers(vit, {i: f"class {i}" for i in range(CLASSES)}),
    }


def logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(B, classes) from any of the three libraries' classifiers."""
    with torch.no_grad():
        output = model(images)
    return output.logits if hasattr(output, "logits") else output


def hook_state(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """How many hooks of each kind every submodule holds (to compare before and after)."""
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
             "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs")
    return {name: tuple(len(getattr(module, kind, {})) for kind in kinds)
            for name, module in model.named_modules()}
