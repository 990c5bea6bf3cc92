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

from helpers.exercises import (
    Case,
    CheckResult,
    WrongAnswer,
    fail,
    require_close,
    run_check,
    shape_of,
)

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

    def cases():
        for number, processor in enumerate(_processors(), start=1):
            pixel_values = processor(images=image, return_tensors="pt")["pixel_values"][0]
            resized = processor(images=image, do_rescale=False, do_normalize=False,
                                return_tensors="pt")["pixel_values"][0]  # (3, H, W), 0..255
            label = (f"processor {number} (image_mean {processor.image_mean}, image_std "
                     f"{processor.image_std}, rescale_factor {processor.rescale_factor:.4g})")
            yield Case(label, (pixel_values, processor), resized.float().permute(1, 2, 0))

    def judge(case: Case, got: Any) -> float:
        want = case.want  # (H, W, 3)
        try:
            got = torch.as_tensor(np.asarray(got))
        except (TypeError, ValueError, RuntimeError):
            raise WrongAnswer("an (H, W, 3) image", type(got).__name__,
                              "return a NumPy array (or a tensor)") from None
        if tuple(got.shape) != tuple(want.shape):
            raise WrongAnswer(f"an (H, W, 3) image of shape {tuple(want.shape)}",
                              f"{tuple(got.shape)}", "channels go last for drawing")
        if got.dtype != torch.uint8:
            raise WrongAnswer("uint8 values 0..255", f"{got.dtype}",
                              "round, clamp to 0..255, then convert to uint8")
        return require_close(float((got.float() - want).abs().max()), 1.0,
                             "multiply by image_std, add image_mean, divide by rescale_factor "
                             "(read all three from the processor)",
                             expected="the processor's resized photo, within one grey level")

    return run_check("to_image", fn, cases(), judge,
                     "recovers the photo for 3 different processors")


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
    cases = []
    for number, (block, layer) in enumerate(zip(vit.blocks, hf_layers(hf), strict=True)):
        weight, bias = block.attn.qkv.weight.detach(), block.attn.qkv.bias.detach()
        cases.append(Case(f"block {number}, qkv weight {tuple(weight.shape)} and bias "
                          f"{tuple(bias.shape)}", (weight, bias), hf_layer_parts(layer)))

    @torch.no_grad()
    def judge(case: Case, got: Any) -> float:
        parts = case.want
        triple = "three (weight, bias) pairs"
        hint = "return ((q_weight, q_bias), (k_weight, k_bias), (v_weight, v_bias))"
        try:
            pairs = [(weight, bias) for weight, bias in got]
        except (TypeError, ValueError):
            raise WrongAnswer(triple, type(got).__name__, hint) from None
        if len(pairs) != 3:
            raise WrongAnswer(triple, f"{len(pairs)}", hint)
        for letter, (weight, bias) in zip("qkv", pairs, strict=True):
            target = parts[letter]
            if shape_of(weight) != tuple(target.weight.shape) or \
                    shape_of(bias) != tuple(target.bias.shape):
                raise WrongAnswer(f"weight {tuple(target.weight.shape)} and bias "
                                  f"{tuple(target.bias.shape)} for {letter}",
                                  f"{shape_of(weight)} and {shape_of(bias)}",
                                  "split the 3D rows into three blocks of D")
            target.weight.copy_(weight)
            target.bias.copy_(bias)
        return 0.0

    loaded = run_check(name, fn, cases, judge, "")
    if not loaded:
        return loaded
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))  # (2, 3, 32, 32)
    with torch.inference_mode():
        want = vit(x)  # (2, 4)
        got_logits = hf(pixel_values=x).logits  # (2, 4)
    error = float((got_logits - want).abs().max())
    if not error <= 1e-4:
        return fail(name, f"the converted model on images {tuple(x.shape)}", "timm's logits",
                    "different logits", "rows 0..D-1 of qkv are q, the next D are k, the last "
                    "D v", error)
    return CheckResult(name, True, error, "the converted model's logits equal timm's")


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
    model = _tiny_hf_sdpa(seed=0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))  # (2, 3, 32, 32)
    want = reference_attention_maps(model, x)  # 2 x (2, 2, 17, 17)
    cases = [Case(f"a tiny ViT loaded with sdpa attention, pixel_values {tuple(x.shape)}",
                  (model, x), want)]

    def judge(case: Case, got: Any) -> float:
        model, want = case.args[0], case.want
        expected = f"{len(want)} attention tensors"
        per_layer = "one (B, heads, N, N) tensor per layer: output.attentions"
        try:
            got = tuple(got)
        except TypeError:
            raise WrongAnswer(expected, type(got).__name__, per_layer) from None
        if len(got) != len(want):
            hint = ("sdpa attention returns no maps (None in transformers 4.57, () in 5): "
                    "switch to eager for the call" if not got else per_layer)
            raise WrongAnswer(expected, f"{len(got)}", hint)
        error = 0.0
        for layer, (g, w) in enumerate(zip(got, want, strict=True)):
            if shape_of(g) != tuple(w.shape):
                raise WrongAnswer(f"shape {tuple(w.shape)} for layer {layer}", f"{shape_of(g)}",
                                  per_layer)
            error = max(error, float((g.detach().float() - w).abs().max()))
        require_close(error, 1e-5, "call the model with output_attentions=True, in eager "
                      "attention", expected="the model's attention maps")
        kernel = model.config._attn_implementation
        if kernel != "sdpa":
            raise WrongAnswer("the model left with 'sdpa' attention", f"{kernel!r} attention",
                              "the maps are right, but restore 'sdpa' after the call", error)
        return error

    def answer(model: nn.Module, pixel_values: torch.Tensor) -> Any:
        calls: list[int] = []
        handle = model.register_forward_hook(lambda *_: calls.append(1))
        try:
            got = fn(model, pixel_values)
        finally:
            handle.remove()
        # transformers 4.57 answers output_attentions=True under sdpa with None: when the model
        # ran, that None is the lesson's point, not an unfinished exercise, so the judge says so
        return () if got is None and calls else got

    return run_check("attention_maps", answer, cases, judge,
                     "every layer's maps match, attention setting restored")
