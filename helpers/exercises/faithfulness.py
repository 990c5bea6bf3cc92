"""Exercises of notebook 08 (faithfulness of explanations): checks and reference solutions.

A check never trusts the answer: it calls it on seeded inputs it makes itself and compares with
an independent reference, returning a :class:`~helpers.exercises.CheckResult`. The inputs make
the typical mistakes visible: scores that depend on several patches with different weights (so
removing the least important patches first, or forgetting the untouched image at step 0, gives
another curve), a baseline that is not zero (so replacing with zeros is wrong), and maps with
ties (so ranks that ignore ties are wrong).

The third exercise is *predict, then verify*: you write down numbers before any code runs, and
the check measures them on a toy model and says how close you were.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from helpers.evaluation.faithfulness import curve_auc, keep_masks
from helpers.evaluation.sanity import rank_correlation
from helpers.exercises import Case, CheckResult, WrongAnswer, run_check, shape_of, tensor_error

__all__ = [
    "reference_deletion_curve",
    "reference_rank_correlation",
    "toy_one_patch_aucs",
    "check_deletion_curve",
    "check_rank_correlation",
    "check_auc_predictions",
]

#: Largest error a right answer may have (inputs are float64).
TOLERANCE = 1e-6


# ----------------------------------------------------------------------------- solutions


def reference_deletion_curve(score: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor,
                             saliency: torch.Tensor, steps: int, baseline: torch.Tensor
                             ) -> torch.Tensor:
    """Deletion curve of one image: remove the most salient patches first, ``P / steps`` a step.

    Args:
        score: (n, 3, H, W) images -> (n,) probability of the explained class.
        image: (3, H, W).
        saliency: (g, g) one value per patch (H = W = g · patch).
        steps: Number of steps (divides P = g²).
        baseline: (3, H, W) what a removed patch shows.

    Returns:
        (steps + 1,) the score after removing the top ``k · P / steps`` patches, k = 0..steps.
    """
    side = saliency.shape[-1]
    patch = image.shape[-1] // side
    order = torch.argsort(saliency.flatten(), descending=True)  # most salient first
    per_step = side * side // steps
    images = []
    for k in range(steps + 1):
        keep = torch.ones(side * side, dtype=torch.bool)
        keep[order[:k * per_step]] = False  # the top k · P / steps patches are removed
        mask = keep.reshape(side, side).repeat_interleave(patch, 0).repeat_interleave(patch, 1)
        images.append(torch.where(mask, image, baseline))  # (3, H, W)
    return score(torch.stack(images))  # (steps + 1,): all steps in one batch


def reference_rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of two (P,) maps, tied values sharing their mean rank.

    Returns:
        A 0-d tensor: the Pearson correlation of the two rank vectors.
    """

    def ranks(x: torch.Tensor) -> torch.Tensor:
        values, inverse, counts = torch.unique(x, return_inverse=True, return_counts=True)
        last = counts.cumsum(0).double()  # the highest (1-based) rank of each distinct value
        return (last - (counts - 1) / 2)[inverse]  # ties share the mean of their ranks

    ra, rb = ranks(a.flatten()), ranks(b.flatten())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return (ra * rb).sum() / (ra.norm() * rb.norm())


def toy_one_patch_aucs(steps: int = 7, side: int = 14, draws: int = 4000, seed: int = 0
                       ) -> dict[str, float]:
    """Deletion AUCs on a toy model whose score is 1 while one patch is visible, else 0.

    Measured, not derived: the curves are computed with
    :func:`helpers.evaluation.faithfulness.keep_masks` for the perfect map (that patch first), the
    reversed map (that patch last) and ``draws`` random maps (their mean AUC).

    Returns:
        ``{"perfect": ..., "reversed": ..., "random": ...}``.
    """
    patches = side * side
    target = 0
    perfect = torch.zeros(1, patches)
    perfect[0, target] = 1.0
    generator = torch.Generator().manual_seed(seed)
    maps = {"perfect": perfect, "reversed": -perfect,
            "random": torch.rand(draws, patches, generator=generator)}
    aucs = {}
    for name, value in maps.items():
        curves = keep_masks(value, steps)[..., target].double()  # score = patch still visible
        aucs[name] = float(curve_auc(curves).mean())
    return aucs


# ----------------------------------------------------------------------------- checks


def _toy_score(weights: torch.Tensor, patch: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A score that depends on every patch's mean brightness with its own weight."""

    def score(images: torch.Tensor) -> torch.Tensor:
        means = torch.nn.functional.avg_pool2d(images.mean(dim=1, keepdim=True), patch)
        return torch.sigmoid((means.flatten(1) * weights).sum(-1))  # (n,)

    return score


def check_deletion_curve(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``fn(score, image, saliency, steps, baseline)`` -> (steps + 1,) deletion curve."""
    generator = torch.Generator().manual_seed(80)
    cases = []
    for side, patch, steps in [(4, 4, 4), (7, 2, 7), (6, 3, 3)]:
        size = side * patch
        image = torch.rand(3, size, size, generator=generator, dtype=torch.float64)
        baseline = torch.full((3, size, size), -0.5, dtype=torch.float64)  # not zero
        weights = torch.randn(side * side, generator=generator, dtype=torch.float64) * 4
        saliency = torch.rand(side, side, generator=generator, dtype=torch.float64)
        score = _toy_score(weights, patch)
        want = reference_deletion_curve(score, image, saliency, steps, baseline)
        mistakes = {
            "ascending": reference_deletion_curve(score, image, -saliency, steps, baseline),
            "zeros": reference_deletion_curve(score, image, saliency, steps,
                                              torch.zeros_like(baseline)),
        }
        cases.append(Case(f"{side}x{side} patches of {patch} px, {steps} steps",
                          (score, image, saliency, steps, baseline), (want, mistakes)))

    def judge(case: Case, got: torch.Tensor) -> float:
        want, mistakes = case.want
        steps = case.args[3]
        if shape_of(got) != tuple(want.shape):
            hint = ("the curve has steps + 1 points: the untouched image first (k = 0), then "
                    "one point per step up to all patches removed")
            raise WrongAnswer(f"a tensor of shape ({steps + 1},)", f"{shape_of(got)}", hint)
        error = tensor_error(got, want)
        if not error <= TOLERANCE:
            if tensor_error(got, mistakes["ascending"]) <= TOLERANCE:
                hint = "you removed the least salient patches first: sort in descending order"
            elif tensor_error(got, mistakes["zeros"]) <= TOLERANCE:
                hint = "removed patches must show the baseline image, not zeros"
            else:
                hint = ("at step k replace the k · P / steps most salient patches (every pixel "
                        "of each) by the baseline, then score the image")
            raise WrongAnswer("the reference's values", "wrong values", hint, error)
        return error

    return run_check("deletion_curve", fn, cases, judge,
                     "matches the reference deletion curve on 3 toy models")


def check_rank_correlation(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                           ) -> CheckResult:
    """Check ``fn(a, b)``: two (P,) maps -> their Spearman rank correlation (ties averaged)."""
    generator = torch.Generator().manual_seed(81)
    pairs = []
    a = torch.rand(196, generator=generator, dtype=torch.float64)
    pairs.append(("no ties, related", a, a ** 3 + 0.3 * torch.rand(196, generator=generator,
                                                                   dtype=torch.float64)))
    relu = torch.randn(196, generator=generator, dtype=torch.float64).clamp_min(0)  # many zeros
    pairs.append(("many tied zeros (a ReLU map)", relu, relu + torch.rand(
        196, generator=generator, dtype=torch.float64)))
    b = torch.rand(49, generator=generator, dtype=torch.float64)
    pairs.append(("opposite order", b, -2 * b))
    cases = [Case(label, (x, y), float(rank_correlation(x[None], y[None])[0]))
             for label, x, y in pairs]

    def judge(case: Case, got: object) -> float:
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise WrongAnswer("one number", f"{shape_of(got)}",
                              "return a single correlation, e.g. a 0-d tensor") from None
        error = abs(value - case.want)
        if not error <= 1e-9:
            x, y = case.args
            pearson = float(torch.corrcoef(torch.stack([x, y]))[0, 1])
            if abs(value - pearson) <= 1e-9:
                hint = "that is Pearson's correlation of the values: correlate their ranks"
            elif "tied" in case.label:
                hint = "tied values must share the mean of the ranks they occupy"
            else:
                hint = "rank each map (1..P), then take the Pearson correlation of the ranks"
            raise WrongAnswer(f"{case.want:.6f}", f"{value:.6f}", hint, error)
        return error

    return run_check("rank_correlation", fn, cases, judge,
                     "matches Spearman's ρ with tied ranks averaged on 3 pairs of maps")


def check_auc_predictions(predictions: Mapping[str, float], steps: int = 7) -> CheckResult:
    """Compare your predicted deletion AUCs with those measured on the one-patch toy model.

    Args:
        predictions: ``{"perfect": ..., "reversed": ..., "random": ...}``, your numbers.
        steps: Steps of the curves.
    """
    measured = toy_one_patch_aucs(steps)

    def judge(case: Case, got: object) -> float:
        if not isinstance(got, Mapping) or set(got) != set(measured) or any(
                not isinstance(v, int | float) or math.isnan(v) for v in got.values()):
            raise WrongAnswer(f"a number for each of {sorted(measured)}",
                              f"{got!r}", "fill in the three numbers")
        worst = max(abs(float(got[k]) - measured[k]) for k in measured)
        if worst > 0.02:
            far = max(measured, key=lambda k: abs(float(got[k]) - measured[k]))
            raise WrongAnswer(f"{far} ≈ {measured[far]:.3f} (measured)", f"{got[far]}",
                              "draw each curve: it is 1 until the patch goes, then 0; its area "
                              f"is a trapezoid sum over {steps} steps of width 1/{steps}", worst)
        return worst

    passed = ", ".join(f"{k} {v:.3f}" for k, v in measured.items())
    return run_check("auc_predictions", lambda: predictions, [Case(f"{steps} steps", ())],
                     judge, f"within 0.02 of the measured AUCs ({passed})")
