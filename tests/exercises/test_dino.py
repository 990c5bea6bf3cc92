"""Notebook 07 exercise checks: references pass, typical mistakes fail, errors are caught."""

from __future__ import annotations

import torch

from helpers.exercises.dino import (
    check_cls_attention,
    check_first_component,
    check_mass_mask,
    reference_cls_attention,
    reference_first_component,
    reference_mass_mask,
)
from helpers.maps.dino import cls_attention_maps, mass_threshold_mask, patch_pca


def test_cls_attention_reference_and_helper_pass_and_mistakes_fail():
    assert check_cls_attention(reference_cls_attention).passed
    assert check_cls_attention(cls_attention_maps).passed
    column = lambda a: reference_cls_attention(a.transpose(-2, -1))  # noqa: E731 - attention *to* CLS
    result = check_cls_attention(column)
    assert not result.passed and "wrong values" in result.message
    with_cls = lambda a: a[:, :, 0]  # noqa: E731 - kept the CLS key, no grid
    result = check_cls_attention(with_cls)
    assert not result.passed and "expected a tensor of shape" in result.message
    head_mean = lambda a: reference_cls_attention(a).mean(1, keepdim=True)  # noqa: E731
    assert not check_cls_attention(head_mean)


def test_mass_mask_reference_and_helper_pass_and_mistakes_fail():
    assert check_mass_mask(reference_mass_mask).passed
    assert check_mass_mask(mass_threshold_mask).passed

    def stops_one_short(weights, keep):  # keeps patches while the running sum stays below keep
        ordered, order = weights.sort(dim=-1, descending=True)
        kept = ordered.cumsum(-1) < keep * weights.sum(-1, keepdim=True)
        return torch.zeros_like(kept).scatter(-1, order, kept)

    result = check_mass_mask(stops_one_short)
    assert not result.passed and "less than" in result.message

    def unnormalised(weights, keep):  # forgot that the weights do not sum to 1
        ordered, order = weights.sort(dim=-1, descending=True)
        kept = ordered.cumsum(-1) - ordered < keep
        return torch.zeros_like(kept).scatter(-1, order, kept)

    assert not check_mass_mask(unnormalised)

    def one_extra(weights, keep):  # "<=" instead of "<": one patch too many on exact ties
        ordered, order = weights.sort(dim=-1, descending=True)
        running = ordered.cumsum(-1)
        kept = running - ordered <= keep * running[..., -1:]
        return torch.zeros_like(kept).scatter(-1, order, kept)

    result = check_mass_mask(one_extra)
    assert not result.passed and "not the fewest" in result.message
    relative_to_peak = lambda w, keep: w >= (1 - keep) * w.amax(-1, keepdim=True)  # noqa: E731
    assert not check_mass_mask(relative_to_peak)


def test_first_component_reference_and_helper_pass_and_mistakes_fail():
    assert check_first_component(reference_first_component).passed
    assert check_first_component(lambda f: -reference_first_component(f)).passed  # either sign
    assert check_first_component(lambda f: patch_pca(f, 1).scores[0, :, 0]).passed
    uncentred = lambda f: f @ torch.linalg.svd(f, full_matrices=False)[2][0]  # noqa: E731
    result = check_first_component(uncentred)
    assert not result.passed and "subtract the mean" in result.message


def test_errors_in_the_answer_become_failures():
    result = check_mass_mask(lambda w, keep: 1 / 0)
    assert not result.passed and "ZeroDivisionError" in result.message
    assert not check_cls_attention(lambda a: None)
    assert not check_first_component(lambda f: f.mean(-1, keepdim=True))
    assert str(check_first_component(reference_first_component)).startswith(
        "[PASS] first_component")
