"""vit_parts reads the same numbers from timm, torchvision and transformers."""

from __future__ import annotations

import pytest
import torch
from tiny_vits import DEPTH, DIM, HEADS, LIBRARIES, PATCH, tiny_timm, tiny_trio
from torch import nn

from helpers.models.libraries import library_of
from helpers.models.parts import vit_parts

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


def test_the_three_libraries_give_the_same_parts():
    trio = tiny_trio(seed=11)
    parts = {library: vit_parts(model) for library, model in trio.items()}
    for library in LIBRARIES:
        p = parts[library]
        assert p.library == library == library_of(trio[library])
        assert (p.depth, p.num_heads, p.dim, p.patch_size) == (DEPTH, HEADS, DIM, PATCH)
    ref = parts["timm"]
    for library in ("torchvision", "transformers"):
        p = parts[library]
        for name in ("patch_weight", "patch_bias", "cls_token", "pos_embed"):
            assert torch.equal(getattr(p, name), getattr(ref, name)), (library, name)
        for mine, theirs in zip(p.blocks, ref.blocks, strict=True):
            for part in ("q", "k", "v", "proj", "fc1", "fc2"):
                assert torch.equal(getattr(mine, part).weight, getattr(theirs, part).weight)
                assert torch.equal(getattr(mine, part).bias, getattr(theirs, part).bias)
            assert mine.norm1.eps == theirs.norm1.eps
        assert torch.equal(p.head.weight, ref.head.weight)


def test_fused_qkv_is_split_into_views_of_the_models_own_weights():
    model = tiny_timm(seed=12)
    block = vit_parts(model).blocks[0]
    qkv = model.blocks[0].attn.qkv.weight  # (3D, D): rows [q; k; v]
    assert torch.equal(block.k.weight, qkv[DIM:2 * DIM])
    assert block.v.weight.data_ptr() == qkv[2 * DIM:].data_ptr()  # a view, not a copy


def test_loaded_model_and_headless_model_are_accepted(tiny_random_timm):
    assert vit_parts(tiny_random_timm).depth == 12
    headless = tiny_timm(seed=13)
    headless.reset_classifier(0)
    assert vit_parts(headless).head is None


def test_unsupported_variants_raise():
    from timm.models.vision_transformer import VisionTransformer
    from torchvision.models.vision_transformer import VisionTransformer as TorchvisionViT

    pooled = VisionTransformer(img_size=32, patch_size=8, embed_dim=24, depth=1, num_heads=2,
                               global_pool="avg", num_classes=3)
    with pytest.raises(ValueError, match="global_pool='avg'"):
        vit_parts(pooled)
    registers = VisionTransformer(img_size=32, patch_size=8, embed_dim=24, depth=1, num_heads=2,
                                  reg_tokens=4, num_classes=3)
    with pytest.raises(ValueError, match="register tokens"):
        vit_parts(registers)
    pre_logits = TorchvisionViT(image_size=32, patch_size=8, num_layers=1, num_heads=2,
                                hidden_dim=24, mlp_dim=48, num_classes=3, representation_size=10)
    with pytest.raises(ValueError, match="pre-logits"):
        vit_parts(pre_logits)
    with pytest.raises(ValueError, match="torchvision, transformers or timm ViT"):
        vit_parts(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="nn.Module"):
        vit_parts("vit")
