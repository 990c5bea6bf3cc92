"""Exercises of notebook 01 (classifying photos with torchvision's ViT): checks and
reference solutions.

A check never trusts the answer: it calls it on inputs it makes itself and compares
with the reference. Exceptions raised by the answer become a failing result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image

from helpers.exercises import (
    Case,
    CheckResult,
    WrongAnswer,
    check_prediction,
    require_close,
    require_equal,
    run_check,
    tensor_error,
)

__all__ = [
    "reference_token_count",
    "reference_top_k",
    "reference_preprocess",
    "check_token_count",
    "check_top_k",
    "check_preprocess",
    "reference_cost_ratio",
    "check_cost_ratio",
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
    sizes = [(224, 16), (224, 32), (224, 14), (384, 16), (518, 14), (32, 4)]
    cases = [Case(f"image {image_size}, patch {patch_size}", (image_size, patch_size),
                  reference_token_count(image_size, patch_size))
             for image_size, patch_size in sizes]

    def judge(case: Case, got: int) -> float:
        return require_equal(got, case.want,
                             "one token per patch, (image_size // patch_size)² of them, plus "
                             "the class token")

    return run_check("token_count", fn, cases, judge, f"all {len(cases)} sizes right")


def check_top_k(fn: Callable[[torch.Tensor, Sequence[str], int], list]) -> CheckResult:
    """Check ``fn(logits, labels, k)`` against the reference on seeded random logits."""
    generator = torch.Generator().manual_seed(0)
    cases = []
    for num_classes, k in [(10, 3), (1000, 5), (5, 5)]:
        logits = torch.randn(num_classes, generator=generator) * 3  # (num_classes,)
        labels = [f"class {i}" for i in range(num_classes)]
        cases.append(Case(f"{num_classes} classes, k={k}", (logits, labels, k),
                          reference_top_k(logits, labels, k)))

    def judge(case: Case, got: list) -> float:
        k, want = case.args[2], case.want
        pairs = f"a list of {k} (label, probability) pairs"
        hint = "return [(label, probability), ...], the most probable class first"
        if not isinstance(got, list | tuple) or len(got) != k:
            raise WrongAnswer(pairs, repr(got)[:120], hint)
        try:
            got_labels = [pair[0] for pair in got]
            got_probs = [float(pair[1]) for pair in got]
        except (TypeError, ValueError, IndexError, KeyError):
            raise WrongAnswer(pairs, repr(got)[:120], hint) from None
        want_labels = [label for label, _ in want]
        if got_labels != want_labels:
            raise WrongAnswer(f"labels {want_labels}", f"{got_labels}",
                              "the k most probable classes, the most probable first")
        error = max(abs(g - w) for g, (_, w) in zip(got_probs, want, strict=True))
        return require_close(error, 1e-5, "probabilities are off: did you apply softmax?",
                             expected="the softmax probabilities")

    return run_check("top_k", fn, cases, judge, "labels and probabilities match")


def check_preprocess(fn: Callable[[Image.Image], torch.Tensor], image: Image.Image
                     ) -> CheckResult:
    """Check ``fn(image)`` against the weights' own ``transforms()`` on ``image``."""
    from torchvision.models import ViT_B_16_Weights

    want = ViT_B_16_Weights.IMAGENET1K_V1.transforms()(image)  # (3, 224, 224)
    width, height = image.size
    cases = [Case(f"a {width}×{height} photo", (image,), want)]

    def judge(case: Case, got: torch.Tensor) -> float:
        return require_close(tensor_error(got, case.want), 1e-4,
                             "check resize size, interpolation, crop, scaling to [0, 1], "
                             "mean/std", expected="the values of weights.transforms()")

    return run_check("preprocess", fn, cases, judge, "matches weights.transforms()")


# ----------------------------------------------------------------------------- predict, then verify


def reference_cost_ratio() -> float:
    """ViT-B/16's multiply-adds per image divided by ViT-B/32's, counted on the models."""
    from helpers.models.architectures import describe_torchvision_vit

    return describe_torchvision_vit("vit_b_16").gmacs / describe_torchvision_vit("vit_b_32").gmacs


def check_cost_ratio(prediction: float) -> CheckResult:
    """Predict, then verify: how many times ViT-B/16 costs ViT-B/32 (197 against 50 tokens)."""
    return check_prediction(
        "cost_ratio", prediction, reference_cost_ratio(), 0.15,
        "the ratio is ViT-B/16's cost ÷ ViT-B/32's, so above 1 (below 1 is the ratio upside "
        "down); a cost growing with the square of the tokens would give (197 / 50)² ≈ 15.5; the "
        "linear layers (12·D² multiply-adds per token and block) dominate, so the cost follows N",
        what="ViT-B/16 GMACs ÷ ViT-B/32 GMACs")
