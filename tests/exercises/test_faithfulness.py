"""Notebook 08 exercise checks: references and helpers pass, typical mistakes fail with their
hint, and the predict-then-verify numbers are measured, not assumed."""

from __future__ import annotations

import pytest
import torch

from helpers.evaluation.faithfulness import perturbation_curves
from helpers.evaluation.sanity import rank_correlation
from helpers.exercises.faithfulness import (
    check_auc_predictions,
    check_deletion_curve,
    check_rank_correlation,
    reference_deletion_curve,
    reference_rank_correlation,
    toy_one_patch_aucs,
)


def test_deletion_curve_reference_and_helper_pass_and_mistakes_fail():
    assert check_deletion_curve(reference_deletion_curve).passed

    class Scorer(torch.nn.Module):  # the helper wants a model: one logit against a zero one
        def __init__(self, score):
            super().__init__()
            self.score, self.dummy = score, torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            p = self.score(x).clamp(1e-12, 1 - 1e-12)
            return torch.stack([torch.log(p) - torch.log1p(-p), torch.zeros_like(p)], -1)

    def helper(score, image, saliency, steps, baseline):
        return perturbation_curves(Scorer(score), image[None], saliency[None], 0, steps=steps,
                                   baseline=baseline[None], fused=False)[0].double()

    assert check_deletion_curve(helper).passed
    ascending = check_deletion_curve(
        lambda s, i, m, k, b: reference_deletion_curve(s, i, -m, k, b))
    assert not ascending.passed and "least salient patches first" in ascending.message
    zeros = check_deletion_curve(
        lambda s, i, m, k, b: reference_deletion_curve(s, i, m, k, torch.zeros_like(b)))
    assert not zeros.passed and "not zeros" in zeros.message
    short = check_deletion_curve(lambda s, i, m, k, b: reference_deletion_curve(s, i, m, k, b)[1:])
    assert not short.passed and "steps + 1 points" in short.message


def test_rank_correlation_reference_and_helper_pass_and_mistakes_fail():
    assert check_rank_correlation(reference_rank_correlation).passed
    assert check_rank_correlation(lambda a, b: rank_correlation(a[None], b[None])[0]).passed
    pearson = check_rank_correlation(lambda a, b: torch.corrcoef(torch.stack([a, b]))[0, 1])
    assert not pearson.passed and "Pearson's correlation of the values" in pearson.message

    def ordinal(a, b):  # ranks without ties: argsort of argsort
        ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
        return torch.corrcoef(torch.stack([ra, rb]))[0, 1]

    result = check_rank_correlation(ordinal)
    assert not result.passed and "share the mean of the ranks" in result.message


def test_predictions_are_compared_with_measured_aucs():
    measured = toy_one_patch_aucs()
    assert measured["perfect"] == pytest.approx(1 / 14)  # 1 for the first step only
    assert measured["reversed"] == pytest.approx(1 - 1 / 14)
    assert measured["random"] == pytest.approx(0.5, abs=0.01)  # the diagonal, on average
    assert check_auc_predictions({"perfect": 0.07, "reversed": 0.93, "random": 0.5}).passed
    wrong = check_auc_predictions({"perfect": 0.0, "reversed": 1.0, "random": 0.5})
    assert not wrong.passed and "trapezoid" in wrong.message
    empty = check_auc_predictions({"perfect": ..., "reversed": ..., "random": ...})
    assert not empty.passed and "fill in the three numbers" in empty.message
