"""Exercises of notebook 01 (classifying photos with torchvision's ViT): checks and
reference solutions.

A check never trusts the answer: it calls it on inputs it makes itself and compares
with the reference. Exceptions raised by the answer become a failing result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image

from helpers.exercises import CheckResult
from helpers.exercises import failure as _failure

__all__ = [
    "reference_token_count",
    "reference_top_k",
    "reference_preprocess",
    "check_token_count",
    "check_top_k",
    "check_preprocess",
]


# ----------------------------------------------------------------------------- solutions


def reference_token_count(image_size: int, patch_size: int) -> int:
    """Tokens a ViT sees for a square image: one per patch, plus the class token."""
    if image_size % patch_size:
        raise ValueError(f"{image_size} is not a multiple of the patch size {patch_size}.")
    return (image_size // patch_size) ** 2 + 1


def reference_top_k(logits: torch.Tensor, labels: Sequence[str], k: int
                    ) -> list[tuple[str, float]]:
    """The k most probable classes of one image.

    Args:
        logits: (num_classes,) raw scores.
        labels: num_classes names.
        k: How many to return.

    Returns:
        ``(label, probability)`` pairs, most probable first.
    """
    probs = logits.softmax(dim=-1)  # (num_classes,)
    values, indices = probs.topk(k)  # (k,), (k,)
    return [(labels[i], float(v)) for v, i in zip(values, indices.tolist(), strict=True)]


def reference_preprocess(image: Image.Image) -> torch.Tensor:
    """torchvision ViT-B/16 V1 preprocessing by hand, numbers read from the weights.

    Returns:
        (3, 224, 224) normalised tensor.
    """
    import torchvision.transforms.v2.functional as F
    from torchvision.models import ViT_B_16_Weights

    spec = ViT_B_16_Weights.IMAGENET1K_V1.transforms()
    image = F.resize(image, spec.resize_size, interpolation=spec.interpolation)  # PIL resize
    image = F.center_crop(image, spec.crop_size)  # 224 x 224 PIL image
    x = F.pil_to_tensor(image)  # (3, 224, 224) uint8
    x = F.to_dtype(x, torch.float32, scale=True)  # values in [0, 1]
    return F.normalize(x, mean=spec.mean, std=spec.std)


# ----------------------------------------------------------------------------- checks


def check_token_count(fn: Callable[[int, int], int]) -> CheckResult:
    """Check ``fn(image_size, patch_size)`` -> number of tokens including the class token."""
    name = "token_count"
    cases = [(224, 16), (224, 32), (224, 14), (384, 16), (518, 14), (32, 4)]
    for image_size, patch_size in cases:
        try:
            got = fn(image_size, patch_size)
        except Exception as err:  # noqa: BLE001 - any error in the answer is a fail
            return _failure(name, err)
        want = reference_token_count(image_size, patch_size)
        if got != want:
            return CheckResult(name, False, float(abs(want - (got or 0))),
                               f"image {image_size}, patch {patch_size}: expected {want}, "
                               f"got {got!r}")
    return CheckResult(name, True, 0.0, f"all {len(cases)} sizes right")


def check_top_k(fn: Callable[[torch.Tensor, Sequence[str], int], list]) -> CheckResult:
    """Check ``fn(logits, labels, k)`` against the reference on seeded random logits."""
    name = "top_k"
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for num_classes, k in [(10, 3), (1000, 5), (5, 5)]:
        logits = torch.randn(num_classes, generator=generator) * 3  # (num_classes,)
        labels = [f"class {i}" for i in range(num_classes)]
        try:
            got = fn(logits.clone(), labels, k)
        except Exception as err:  # noqa: BLE001
            return _failure(name, err)
        want = reference_top_k(logits, labels, k)
        if not isinstance(got, list | tuple) or len(got) != k:
            shown = repr(got)[:120]
            return CheckResult(name, False, float("inf"),
                               f"expected a list of {k} (label, probability) pairs, got {shown}")
        got_labels = [pair[0] for pair in got]
        if got_labels != [label for label, _ in want]:
            return CheckResult(name, False, float("inf"),
                               f"{num_classes} classes, k={k}: expected labels "
                               f"{[label for label, _ in want]}, got {got_labels}")
        worst = max(worst, max(abs(float(g[1]) - w[1]) for g, w in zip(got, want, strict=True)))
    passed = worst <= 1e-5
    message = "labels and probabilities match" if passed else "probabilities are off " \
        "(did you apply softmax?)"
    return CheckResult(name, passed, worst, message)


def check_preprocess(fn: Callable[[Image.Image], torch.Tensor], image: Image.Image
                     ) -> CheckResult:
    """Check ``fn(image)`` against the weights' own ``transforms()`` on ``image``."""
    from torchvision.models import ViT_B_16_Weights

    name = "preprocess"
    want = ViT_B_16_Weights.IMAGENET1K_V1.transforms()(image)  # (3, 224, 224)
    try:
        got = fn(image)
    except Exception as err:  # noqa: BLE001
        return _failure(name, err)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        return CheckResult(name, False, float("inf"),
                           f"expected a tensor of shape {tuple(want.shape)}, got {shape}")
    error = float((got.float() - want).abs().max())
    passed = error <= 1e-4
    message = "matches weights.transforms()" if passed else (
        "values differ: check resize size, interpolation, crop, scaling to [0, 1], mean/std")
    return CheckResult(name, passed, error, message)
