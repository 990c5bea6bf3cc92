"""Exercises of notebook 02 (Hugging Face processors and ViTForImageClassification): checks
and reference solutions.

A check never trusts the answer: it calls it on inputs it makes itself (several processors,
tiny random models built on the spot), compares with the library's own result or a
reference, and returns a :class:`~helpers.exercises.CheckResult`. Exceptions raised by the
answer become a failing result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from helpers.exercises import CheckResult, shape_of, unanswered
from helpers.exercises import failure as _failure

__all__ = [
    "reference_to_image",
    "reference_split_qkv",
    "reference_attention_maps",
    "check_to_image",
    "check_split_qkv",
    "check_attention_maps",
]


# ----------------------------------------------------------------------------- solutions


def reference_to_image(pixel_values: torch.Tensor, processor: Any) -> np.ndarray:
    """Undo a processor's rescale and normalisation, to draw what the model sees.

    Args:
        pixel_values: (3, H, W) float tensor made by ``processor``.
        processor: The Hugging Face image processor that made it (its ``image_mean``,
            ``image_std`` and ``rescale_factor`` are used).

    Returns:
        (H, W, 3) uint8 image.
    """
    mean = torch.tensor(processor.image_mean).view(3, 1, 1)  # (3, 1, 1)
    std = torch.tensor(processor.image_std).view(3, 1, 1)  # (3, 1, 1)
    x = pixel_values * std + mean  # (3, H, W), values 0..1
    x = x / processor.rescale_factor  # values 0..255
    return x.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, 3)


def reference_split_qkv(qkv_weight: torch.Tensor, qkv_bias: torch.Tensor
                        ) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """Split a fused qkv projection (timm, torchvision) into separate q, k, v (transformers).

    Args:
        qkv_weight: (3D, D): rows 0..D-1 make q, D..2D-1 make k, 2D..3D-1 make v.
        qkv_bias: (3D,).

    Returns:
        ``((q_weight, q_bias), (k_weight, k_bias), (v_weight, v_bias))``, weights (D, D),
        biases (D,).
    """
    weights = qkv_weight.chunk(3, dim=0)  # 3 x (D, D)
    biases = qkv_bias.chunk(3, dim=0)  # 3 x (D,)
    return tuple(zip(weights, biases, strict=True))


def reference_attention_maps(model: nn.Module, pixel_values: torch.Tensor
                             ) -> tuple[torch.Tensor, ...]:
    """Attention maps of a Hugging Face ViT, whatever attention it was loaded with.

    Fused (``sdpa``) attention never forms the softmax matrix, so the model is switched to
    ``eager`` for this call and switched back afterwards.

    Returns:
        One (B, heads, N, N) tensor per layer.
    """
    from helpers.models.libraries import attention_kernel

    with attention_kernel(model, fused=False), torch.inference_mode():
        output = model(pixel_values=pixel_values, output_attentions=True)
    return tuple(output.attentions)


# ----------------------------------------------------------------------------- checks


def _processors() -> list[Any]:
    """Three processors with different sizes, scales, means and stds."""
    from transformers import ViTImageProcessor

    return [
        ViTImageProcessor(),
        ViTImageProcessor(size={"height": 160, "width": 192},
                          image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]),
        ViTImageProcessor(size={"height": 96, "width": 96}, rescale_factor=1 / 127.5,
                          image_mean=[1.0, 0.5, 0.0], image_std=[1.0, 2.0, 0.5]),
    ]


def check_to_image(fn: Callable[[torch.Tensor, Any], Any], image: Image.Image) -> CheckResult:
    """Check ``fn(pixel_values, processor)`` -> (H, W, 3) uint8 image, for three processors.

    The right answer is the processor's resized photo (made with rescaling and
    normalisation switched off), within one grey level of rounding.
    """
    name = "to_image"
    worst = 0.0
    for processor in _processors():
        pixel_values = processor(images=image, return_tensors="pt")["pixel_values"][0]
        resized = processor(images=image, do_rescale=False, do_normalize=False,
                            return_tensors="pt")["pixel_values"][0]  # (3, H, W), 0..255
        want = resized.float().permute(1, 2, 0)  # (H, W, 3)
        try:
            got = fn(pixel_values.clone(), processor)
            if got is None:
                return unanswered(name)
            got = torch.as_tensor(np.asarray(got))
        except Exception as err:  # noqa: BLE001 - any error in the answer is a fail
            return _failure(name, err)
        if tuple(got.shape) != tuple(want.shape):
            return CheckResult(name, False, float("inf"),
                               f"expected an (H, W, 3) image of shape {tuple(want.shape)}, got "
                               f"{tuple(got.shape)} (channels go last for drawing)")
        if got.dtype != torch.uint8:
            return CheckResult(name, False, float("inf"),
                               f"expected uint8 values 0..255, got {got.dtype}")
        error = float((got.float() - want).abs().max())
        worst = max(worst, error)
        if error > 1.0:
            return CheckResult(name, False, error,
                               "values differ from the processor's resized photo: multiply by "
                               "image_std, add image_mean, divide by rescale_factor (read all "
                               "three from the processor)")
    return CheckResult(name, True, worst, "recovers the photo for 3 different processors")


def _tiny_timm(seed: int) -> nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    model = VisionTransformer(img_size=32, patch_size=8, embed_dim=24, depth=2, num_heads=2,
                              num_classes=4)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.2)
    return model.eval()


def check_split_qkv(fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Check ``fn(qkv_weight, qkv_bias)`` by loading its q, k, v into a Hugging Face ViT.

    A tiny random timm ViT is converted to transformers with the student's split; its
    logits must equal timm's.
    """
    from helpers.models.convert import timm_to_transformers
    from helpers.models.libraries import hf_layer_parts, hf_layers

    name = "split_qkv"
    vit = _tiny_timm(seed=0)
    hf = timm_to_transformers(vit, {i: f"class {i}" for i in range(4)})
    with torch.no_grad():
        for block, layer in zip(vit.blocks, hf_layers(hf), strict=True):
            parts = hf_layer_parts(layer)
            try:
                got = fn(block.attn.qkv.weight.clone(), block.attn.qkv.bias.clone())
                if got is None:
                    return unanswered(name)
                pairs = [(weight, bias) for weight, bias in got]
            except Exception as err:  # noqa: BLE001
                return _failure(name, err)
            if len(pairs) != 3:
                return CheckResult(name, False, float("inf"),
                                   f"expected three (weight, bias) pairs, got {len(pairs)}")
            for letter, (weight, bias) in zip("qkv", pairs, strict=True):
                target = parts[letter]
                if shape_of(weight) != tuple(target.weight.shape) or \
                        shape_of(bias) != tuple(target.bias.shape):
                    return CheckResult(name, False, float("inf"),
                                       f"{letter}: expected weight {tuple(target.weight.shape)} "
                                       f"and bias {tuple(target.bias.shape)}, got "
                                       f"{shape_of(weight)} and {shape_of(bias)}")
                target.weight.copy_(weight)
                target.bias.copy_(bias)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))  # (2, 3, 32, 32)
    with torch.inference_mode():
        want = vit(x)  # (2, 4)
        got_logits = hf(pixel_values=x).logits  # (2, 4)
    error = float((got_logits - want).abs().max())
    passed = error <= 1e-4
    message = "the converted model's logits equal timm's" if passed else (
        "the logits differ from timm's: rows 0..D-1 of qkv are q, the next D are k, the last D v")
    return CheckResult(name, passed, error, message)


def _tiny_hf_sdpa(seed: int) -> nn.Module:
    from transformers import ViTConfig, ViTForImageClassification

    from helpers.models.libraries import set_attention_implementation

    torch.manual_seed(seed)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=24, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=48, num_labels=3)
    model = ViTForImageClassification(config).eval()
    set_attention_implementation(model, "sdpa")
    return model


def check_attention_maps(fn: Callable[[nn.Module, torch.Tensor], Any]) -> CheckResult:
    """Check ``fn(model, pixel_values)`` returns every layer's attention, for a model that
    was loaded with fused (``sdpa``) attention, and leaves the model's setting as it was."""
    name = "attention_maps"
    model = _tiny_hf_sdpa(seed=0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))  # (2, 3, 32, 32)
    want = reference_attention_maps(model, x)  # 2 x (2, 2, 17, 17)
    try:
        got = fn(model, x.clone())
        if got is None:
            return unanswered(name)
        got = tuple(got)
    except Exception as err:  # noqa: BLE001
        return _failure(name, err)
    if len(got) != len(want):
        hint = " (sdpa attention returns none: switch to eager)" if len(got) == 0 else ""
        return CheckResult(name, False, float("inf"),
                           f"expected {len(want)} attention tensors, got {len(got)}{hint}")
    worst = 0.0
    for layer, (g, w) in enumerate(zip(got, want, strict=True)):
        if shape_of(g) != tuple(w.shape):
            return CheckResult(name, False, float("inf"),
                               f"layer {layer}: expected shape {tuple(w.shape)}, got {shape_of(g)}")
        worst = max(worst, float((g.detach().float() - w).abs().max()))
    if worst > 1e-5:
        return CheckResult(name, False, worst, "the maps differ from the model's attention")
    if model.config._attn_implementation != "sdpa":
        return CheckResult(name, False, worst,
                           f"the maps are right, but the model was left with "
                           f"{model.config._attn_implementation!r} attention; restore 'sdpa'")
    return CheckResult(name, True, worst, "every layer's maps match, attention setting restored")
