"""Exercises of notebook 05 (attention rollout): checks and reference solutions.

A check never trusts the answer: it calls it on seeded inputs it makes itself and compares with
an independent reference (:mod:`helpers.maps.rollout`), returning a
:class:`~helpers.exercises.CheckResult`. The inputs make the typical mistakes visible:
attention matrices that are not symmetric (so the order of the product matters), gradients of
both signs in every head (so clamping before or after the head mean differ), and a patch size
other than 1 (so distances counted in patches are wrong).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from helpers.exercises import (
    Case,
    CheckResult,
    WrongAnswer,
    check_prediction,
    run_check,
    tensor_error,
)
from helpers.maps.attention_distance import mean_attention_distance
from helpers.maps.rollout import attention_rollout

__all__ = [
    "reference_rollout",
    "reference_attention_distance",
    "reference_grad_weighted",
    "check_rollout",
    "check_attention_distance",
    "check_grad_weighted",
    "reference_uniform_distance",
    "check_uniform_distance",
]

#: Largest error a right answer may have (inputs are float64).
TOLERANCE = 1e-6


# ----------------------------------------------------------------------------- solutions


def reference_rollout(attentions: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout of one image, mean over heads, nothing discarded.

    Args:
        attentions: One (heads, N, N) tensor per layer, first layer first.

    Returns:
        (N - 1,) the class token's row of ``Ã_L = A_L ⋯ A_1`` over the patches, where
        ``A_l = norm_rows((mean_h attention_l + I) / 2)``.
    """
    n = attentions[0].shape[-1]
    eye = torch.eye(n, dtype=attentions[0].dtype)
    joint = eye
    for attention in attentions:
        a = (attention.mean(dim=0) + eye) / 2  # (N, N): heads fused, residual added
        a = a / a.sum(dim=-1, keepdim=True)  # rows sum to 1
        joint = a @ joint  # the later layer on the left
    return joint[0, 1:]  # (N - 1,)


def reference_attention_distance(attention: torch.Tensor, grid: int, patch_size: int
                                 ) -> torch.Tensor:
    """Mean attention distance of each head of one layer, in pixels.

    Args:
        attention: (heads, N, N) one image's attention, N = 1 + grid².
        grid: Patches per side.
        patch_size: Patch side in pixels.

    Returns:
        (heads,) for each head: over the patch queries, the mean of the pixel distances to the
        patch keys weighted by the attention (class token left out, weights re-normalised).
    """
    ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    centres = torch.stack([ys.flatten(), xs.flatten()], dim=-1).double() * patch_size  # (P, 2)
    distances = torch.cdist(centres, centres)  # (P, P) pixels
    patches = attention[:, 1:, 1:]  # (heads, P, P)
    weights = patches / patches.sum(dim=-1, keepdim=True)
    return (weights * distances).sum(dim=-1).mean(dim=-1)  # (heads,)


def reference_grad_weighted(attention: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """One layer's class-specific map: ``mean_h (gradient ⊙ attention)⁺``.

    Args:
        attention: (heads, N, N) probabilities.
        gradient: (heads, N, N) the class score's gradient with respect to them.

    Returns:
        (N, N): negatives clamped in each head, then heads averaged.
    """
    return (gradient * attention).clamp_min(0).mean(dim=0)  # (N, N)


# ----------------------------------------------------------------------------- checks


def _attention(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Peaked, non-symmetric attention probabilities in float64."""
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * 2).softmax(dim=-1)


def check_rollout(fn: Callable[[list[torch.Tensor]], torch.Tensor]) -> CheckResult:
    """Check ``fn(attentions)``: a list of (heads, N, N) per layer -> (N - 1,) rollout."""
    generator = torch.Generator().manual_seed(50)
    cases = []
    for layers, heads, tokens in [(3, 2, 5), (12, 3, 17), (1, 4, 10)]:
        attentions = [_attention(generator, heads, tokens, tokens) for _ in range(layers)]
        want = attention_rollout([a.unsqueeze(0) for a in attentions])[0]  # (N - 1,)
        reversed_order = reference_rollout(attentions[::-1])  # (N - 1,): a typical mistake
        cases.append(Case(f"{layers} layers of {(heads, tokens, tokens)}",
                          ([a.clone() for a in attentions],), (want, reversed_order)))

    def judge(case: Case, got: torch.Tensor) -> float:
        want, reversed_order = case.want
        error = tensor_error(got, want)
        if not error <= 1e-5:  # helpers.maps.rollout computes in float32
            if float((got.double() - reversed_order).abs().max()) < 1e-5:
                hint = "the product is in the wrong order: put the later layer on the left"
            else:
                hint = ("add the identity for the residual connection, halve, re-normalise the "
                        "rows, then multiply; read row 0 (the class token) without column 0")
            raise WrongAnswer("the reference's values", "wrong values", hint, error)
        return error

    return run_check("rollout", fn, cases, judge,
                     "matches helpers.maps.rollout.attention_rollout on 3 stacks")


def check_attention_distance(fn: Callable[[torch.Tensor, int, int], torch.Tensor]
                             ) -> CheckResult:
    """Check ``fn(attention, grid, patch_size)``: (heads, N, N) -> (heads,) pixels."""
    generator = torch.Generator().manual_seed(51)
    cases = []
    for heads, grid, patch in [(3, 4, 16), (2, 14, 16), (5, 3, 8)]:
        tokens = 1 + grid * grid
        attention = _attention(generator, heads, tokens, tokens)  # (heads, N, N)
        attention[:, :, 0] += 0.5  # much attention to the class token, which must be left out
        attention = attention / attention.sum(dim=-1, keepdim=True)
        want = mean_attention_distance([attention.unsqueeze(0)], grid, patch)[0]  # (heads,)
        cases.append(Case(f"attention {tuple(attention.shape)}, grid {grid}, patch {patch}",
                          (attention, grid, patch), want))

    def judge(case: Case, got: torch.Tensor) -> float:
        want, patch = case.want, case.args[2]
        error = tensor_error(got, want)
        if not error <= 1e-3 * float(want.abs().max()):
            ratio = float((got.double() / want.double()).mean())
            if abs(ratio * patch - 1) < 1e-3:
                hint = "distances are in patches: multiply by the patch size for pixels"
            else:
                hint = ("leave out the class token (query and key 0) and re-normalise each "
                        "row over the patch keys before weighting the distances")
            raise WrongAnswer("the reference's values", "wrong values", hint, error)
        return error

    return run_check("attention_distance", fn, cases, judge,
                     "matches helpers.maps.attention_distance.mean_attention_distance")


def check_grad_weighted(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``fn(attention, gradient)``: (heads, N, N) twice -> (N, N)."""
    generator = torch.Generator().manual_seed(52)
    cases = []
    for heads, tokens in [(3, 5), (12, 17), (1, 4)]:
        attention = _attention(generator, heads, tokens, tokens)  # (heads, N, N)
        gradient = torch.randn(heads, tokens, tokens, generator=generator,
                               dtype=torch.float64)  # (heads, N, N)
        cases.append(Case(f"attention and gradient {(heads, tokens, tokens)}",
                          (attention, gradient), reference_grad_weighted(attention, gradient)))

    def judge(case: Case, got: torch.Tensor) -> float:
        error = tensor_error(got, case.want)
        if not error <= TOLERANCE:
            if bool((got < 0).any()):
                hint = "some values are negative: clamp them to zero"
            else:
                hint = "clamp the negatives in each head first, then average over the heads"
            raise WrongAnswer("the reference's values", "wrong values", hint, error)
        return error

    return run_check("grad_weighted", fn, cases, judge,
                     "matches mean over heads of (gradient × attention)⁺")


# ----------------------------------------------------------------------------- predict, then verify


def reference_uniform_distance() -> float:
    """Mean attention distance (px) of a head attending equally to 14×14 patches of 16 px."""
    uniform = torch.full((1, 1, 197, 197), 1 / 197)  # (B, heads, N, N), rows sum to 1
    return float(mean_attention_distance([uniform], 14, 16)[0, 0])


def check_uniform_distance(prediction: float) -> CheckResult:
    """Predict, then verify: the mean attention distance of a head that looks everywhere."""
    return check_prediction(
        "uniform_distance", prediction, reference_uniform_distance(), 0.15,
        "the average distance between two patch centres of the 224-px photo, in pixels (not in "
        "patches: one patch step is 16 px)", what="the uniform head's distance in pixels")
