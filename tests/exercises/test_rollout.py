"""Notebook 05 exercise checks: references pass, typical mistakes fail, errors are caught."""

from __future__ import annotations

import torch

from helpers.exercises.rollout import (
    check_attention_distance,
    check_grad_weighted,
    check_rollout,
    reference_attention_distance,
    reference_grad_weighted,
    reference_rollout,
)
from helpers.maps.attention_distance import mean_attention_distance
from helpers.maps.gradients import grad_weighted_attention
from helpers.maps.rollout import attention_rollout
from helpers.tolerances import DEEP, assert_same_maths


def test_reference_rollout_agrees_with_the_helper():
    generator = torch.Generator().manual_seed(0)
    attentions = [torch.randn(3, 11, 11, generator=generator, dtype=torch.float64).softmax(-1)
                  for _ in range(5)]
    assert_same_maths(reference_rollout(attentions),  # float64 loop vs the float32 helper
                      attention_rollout([a[None] for a in attentions])[0].double(), ulps=DEEP)


def test_rollout_reference_and_helper_pass_and_mistakes_fail():
    assert check_rollout(reference_rollout).passed
    assert check_rollout(lambda att: attention_rollout([a[None] for a in att])[0]).passed
    result = check_rollout(lambda att: reference_rollout(att[::-1]))  # first layer on the left
    assert not result.passed and "wrong order" in result.message

    def no_residual(attentions):
        joint = torch.eye(attentions[0].shape[-1], dtype=attentions[0].dtype)
        for a in attentions:
            joint = a.mean(0) @ joint
        return joint[0, 1:]

    result = check_rollout(no_residual)
    assert not result.passed and "identity" in result.message
    uniform = lambda att: torch.full_like(reference_rollout(att), 0.01)  # noqa: E731
    assert not check_rollout(uniform)
    result = check_rollout(lambda att: torch.cat([torch.zeros(1), reference_rollout(att)]))
    assert not result.passed and "expected a tensor of shape" in result.message


def test_attention_distance_reference_and_helper_pass_and_mistakes_fail():
    assert check_attention_distance(reference_attention_distance).passed
    helper = lambda a, g, p: mean_attention_distance([a[None]], g, p)[0]  # noqa: E731
    assert check_attention_distance(helper).passed
    in_patches = lambda a, g, p: reference_attention_distance(a, g, 1)  # noqa: E731
    result = check_attention_distance(in_patches)
    assert not result.passed and "patch size" in result.message

    def keeps_cls(attention, grid, patch):  # class token kept as a key at distance 0
        ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
        centres = torch.stack([ys.flatten(), xs.flatten()], -1).double() * patch
        distances = torch.nn.functional.pad(torch.cdist(centres, centres), (1, 0))
        return (attention[:, 1:, :] * distances).sum(-1).mean(-1)

    result = check_attention_distance(keeps_cls)
    assert not result.passed and "class token" in result.message


def test_grad_weighted_reference_and_helper_pass_and_mistakes_fail():
    assert check_grad_weighted(reference_grad_weighted).passed
    assert check_grad_weighted(grad_weighted_attention).passed
    result = check_grad_weighted(lambda a, g: (a * g).mean(0))  # no clamp
    assert not result.passed and "negative" in result.message
    result = check_grad_weighted(lambda a, g: (a * g).mean(0).clamp_min(0))  # clamp after mean
    assert not result.passed and "each head first" in result.message
    assert not check_grad_weighted(lambda a, g: (a * g).clamp_min(0).sum(0))


def test_errors_in_the_answer_become_failures():
    result = check_rollout(lambda att: 1 / 0)
    assert not result.passed and "ZeroDivisionError" in result.message
    assert not check_attention_distance(lambda a, g, p: None)
    assert not check_grad_weighted(lambda a, g: a)
    assert str(check_rollout(reference_rollout)).startswith("[PASS] rollout")
