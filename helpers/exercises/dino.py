"""Exercises of notebook 07 (DINO's attention maps): checks and reference solutions.

A check never trusts the answer: it calls it on seeded inputs it makes itself and compares with
an independent reference, returning a :class:`~helpers.exercises.CheckResult`. The inputs are
chosen so the typical mistakes give different answers: attention matrices that are not
symmetric (row 0 is not column 0), weights that do not sum to 1 and contain ties and zeros,
features whose mean is far from zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from helpers.exercises import (
    Case,
    CheckResult,
    WrongAnswer,
    check_prediction,
    require_close,
    run_check,
    shape_of,
    tensor_error,
)

__all__ = [
    "reference_cls_attention",
    "reference_mass_mask",
    "reference_first_component",
    "check_cls_attention",
    "check_mass_mask",
    "check_first_component",
    "reference_uniform_mass_patches",
    "check_uniform_mass_patches",
]

#: Largest error a right answer may have (inputs are float64).
TOLERANCE = 1e-6


# ----------------------------------------------------------------------------- solutions


def reference_cls_attention(attention: torch.Tensor) -> torch.Tensor:
    """The class token's attention to the patches, per head, on the patch grid.

    Args:
        attention: (B, heads, N, N), token 0 the class token, N = 1 + g².

    Returns:
        (B, heads, g, g).
    """
    batch, heads, tokens, _ = attention.shape
    side = math.isqrt(tokens - 1)
    return attention[:, :, 0, 1:].reshape(batch, heads, side, side)  # query 0, patch keys


def reference_mass_mask(weights: torch.Tensor, keep: float) -> torch.Tensor:
    """The fewest entries of each row whose sum reaches ``keep`` of the row's total.

    Args:
        weights: (..., P) non-negative, each row with a positive sum.
        keep: Share in (0, 1].

    Returns:
        (..., P) booleans.
    """
    ordered, order = weights.sort(dim=-1, descending=True)  # (..., P) each
    running = ordered.cumsum(dim=-1)  # (..., P)
    before = running - ordered  # (..., P): mass of the entries ranked before each one
    kept = before < keep * running[..., -1:]  # (..., P), a prefix of each sorted row
    return torch.zeros_like(kept).scatter(-1, order, kept)  # back to the original order


def reference_first_component(features: torch.Tensor) -> torch.Tensor:
    """Each row's coordinate along the first principal component (sign is arbitrary).

    Args:
        features: (P, D).

    Returns:
        (P,) scores.
    """
    centred = features - features.mean(dim=0)  # (P, D)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)  # vh: (min(P, D), D)
    return centred @ vh[0]  # (P,)


# ----------------------------------------------------------------------------- checks


def check_cls_attention(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``fn(attention)``: (B, heads, 1 + g², 1 + g²) -> (B, heads, g, g)."""
    generator = torch.Generator().manual_seed(7)
    cases = []
    for batch, heads, side in [(2, 3, 4), (1, 12, 14), (3, 1, 2)]:
        tokens = 1 + side * side
        scores = torch.randn(batch, heads, tokens, tokens, generator=generator,
                             dtype=torch.float64) * 2  # (B, heads, N, N)
        attention = scores.softmax(dim=-1)  # rows sum to 1, not symmetric
        cases.append(Case(f"attention {tuple(attention.shape)}", (attention,),
                          reference_cls_attention(attention)))  # (B, heads, g, g)

    def judge(case: Case, got: torch.Tensor) -> float:
        return require_close(tensor_error(got, case.want), TOLERANCE,
                             "the class token is the *query*: take row 0, and the patch keys 1:")

    return run_check("cls_attention", fn, cases, judge, "matches row 0 of every head, on 3 shapes")


def check_mass_mask(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """Check ``fn(weights, keep)``: (..., P) -> booleans marking the fewest entries of each row
    that hold ``keep`` of its total. Any choice among tied entries is accepted."""
    generator = torch.Generator().manual_seed(8)
    inputs = []
    for shape in [(5, 16), (2, 3, 196)]:
        weights = torch.rand(shape, generator=generator, dtype=torch.float64) ** 3 * 7
        weights[..., ::5] = 0.0  # zeros, which a mask never needs
        weights[..., 1:4] = weights[..., 1:2]  # ties
        inputs += [(weights, keep) for keep in (0.6, 0.25, 0.9, 1.0)]
    inputs.append((torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64), 0.5))  # reached exactly
    cases = [Case(f"weights {tuple(weights.shape)}, keep {keep}", (weights, keep),
                  reference_mass_mask(weights, keep)) for weights, keep in inputs]

    def judge(case: Case, got: torch.Tensor) -> float:
        weights, keep = case.args
        want = case.want  # (..., P) booleans
        if shape_of(got) != tuple(weights.shape):
            raise WrongAnswer(f"a tensor of shape {tuple(weights.shape)}", f"{shape_of(got)}",
                              "one boolean per weight")
        got = got.bool()
        total = weights.sum(dim=-1)  # (...,)
        held = (weights * got).sum(dim=-1)  # (...,)
        if (held < keep * total - 1e-9 * total).any():
            raise WrongAnswer(f"every row's mask to hold at least {keep:.0%} of its total",
                              f"a mask that holds less than {keep:.0%}",
                              "keep entries until the running sum reaches keep · total",
                              float((keep * total - held).max()))
        if (got.sum(dim=-1) != want.sum(dim=-1)).any():
            extra = int((got.sum(dim=-1) - want.sum(dim=-1)).abs().max())
            raise WrongAnswer(f"the fewest entries that hold {keep:.0%} of each row",
                              f"masks that are not the fewest entries (off by up to {extra})",
                              "keep the largest ones first, and stop as soon as the running sum "
                              "reaches keep · total", float(extra))
        low = torch.where(got, weights, torch.inf).amin(dim=-1)  # smallest kept
        high = torch.where(got, -torch.inf, weights).amax(dim=-1)  # largest left out
        if (low < high).any():
            raise WrongAnswer("the largest entries kept", "a left-out entry larger than a kept one",
                              "sort each row in descending order and keep the first entries",
                              float((high - low).max()))
        return 0.0

    return run_check("mass_mask", fn, cases, judge,
                     f"fewest entries, enough mass, on {len(cases)} cases")


def check_first_component(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``fn(features)``: (P, D) -> (P,) scores on the first principal component
    (either sign is right)."""
    generator = torch.Generator().manual_seed(9)
    cases = []
    for patches, dim in [(196, 32), (49, 64), (16, 8)]:
        direction = torch.randn(dim, generator=generator, dtype=torch.float64)  # (D,)
        strength = torch.randn(patches, 1, generator=generator, dtype=torch.float64) * 4
        noise = torch.randn(patches, dim, generator=generator, dtype=torch.float64)
        offset = torch.randn(dim, generator=generator, dtype=torch.float64) * 20  # far mean
        features = strength * direction + noise + offset  # (P, D)
        cases.append(Case(f"features {tuple(features.shape)}", (features,),
                          reference_first_component(features)))  # (P,)

    def judge(case: Case, got: torch.Tensor) -> float:
        want = case.want  # (P,)
        error = min(tensor_error(got, want), tensor_error(got, -want))
        return require_close(error, 1e-4 * float(want.abs().max()),
                             "subtract the mean of the features first, then project on the top "
                             "right-singular vector", expected="the reference's scores (either "
                             "sign)")

    return run_check("first_component", fn, cases, judge,
                     "matches the SVD's first component (up to sign)")


# ----------------------------------------------------------------------------- predict, then verify


def reference_uniform_mass_patches() -> int:
    """Patches the 60 % mass mask keeps when a head attends equally to all 196 patches."""
    from helpers.maps.dino import mass_threshold_mask

    uniform = torch.full((196,), 1 / 196, dtype=torch.float64)  # (P,)
    return int(mass_threshold_mask(uniform, 0.6).sum())


def check_uniform_mass_patches(prediction: int) -> CheckResult:
    """Predict, then verify: how many of 196 equally weighted patches hold 60 % of the mass."""
    return check_prediction(
        "uniform_mass_patches", prediction, reference_uniform_mass_patches(), 1,
        "each patch holds 1/196 of the mass, so the fewest patches that reach 60 % are "
        "⌈0.6 · 196⌉; a spread-out head keeps many patches, a focused one few",
        relative=False, what="patches kept of 196")
