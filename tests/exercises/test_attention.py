"""Notebook 04 exercise checks: references pass, typical mistakes fail, errors are caught."""

from __future__ import annotations

import math

import torch

from helpers.exercises.attention import (
    check_attention,
    check_patchify,
    check_split_heads,
    reference_attention,
    reference_patchify,
    reference_split_heads,
)
from helpers.models.by_hand import patchify, split_heads
from helpers.tolerances import assert_same_maths


def test_patchify_reference_and_by_hand_pass_and_mistakes_fail():
    assert check_patchify(reference_patchify).passed
    assert check_patchify(patchify).passed
    flat_reshape = lambda x, p: x.reshape(x.shape[0], -1, x.shape[1] * p * p)  # noqa: E731
    assert not check_patchify(flat_reshape)
    channels_last = lambda x, p: reference_patchify(x.permute(0, 2, 3, 1).reshape(  # noqa: E731
        x.shape), p)
    assert not check_patchify(channels_last)
    result = check_patchify(lambda x, p: x[:, :, ::p])
    assert not result.passed and "expected shape" in result.message


def test_split_heads_reference_passes_and_mistakes_fail():
    assert check_split_heads(reference_split_heads).passed
    assert check_split_heads(split_heads).passed
    no_transpose = lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1)  # noqa: E731
    result = check_split_heads(no_transpose)
    assert not result.passed and "wrong values" in result.message
    result = check_split_heads(lambda x, h: x)
    assert not result.passed and result.max_error == float("inf")


def test_attention_reference_passes_and_mistakes_fail():
    result = check_attention(reference_attention)
    assert result.passed and result.max_error < 1e-10
    unscaled = lambda q, k, v: (q @ k.transpose(-2, -1)).softmax(-1) @ v  # noqa: E731
    assert not check_attention(unscaled)
    wrong_axis = lambda q, k, v: (  # noqa: E731
        q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-2) @ v
    assert not check_attention(wrong_axis)
    probs_only = lambda q, k, v: (q @ k.transpose(-2, -1)).softmax(-1)  # noqa: E731
    assert not check_attention(probs_only)


def test_errors_in_the_answer_become_failures():
    result = check_attention(lambda q, k, v: 1 / 0)
    assert not result.passed and "ZeroDivisionError" in result.message
    assert not check_patchify(lambda x, p: None)
    assert str(check_split_heads(reference_split_heads)).startswith("[PASS] split_heads")


def test_references_agree_with_torch():
    x = torch.randn(2, 3, 16, 24)
    conv = torch.nn.Conv2d(3, 4, 8, stride=8)
    with torch.no_grad():
        mine = reference_patchify(x, 8) @ conv.weight.reshape(4, -1).T + conv.bias
        assert_same_maths(mine, conv(x).flatten(2).transpose(1, 2))  # matmul vs convolution
    q, k, v = torch.randn(3, 2, 4, 5, 8).unbind(0)
    assert_same_maths(reference_attention(q, k, v),  # explicit softmax vs the fused kernel
                      torch.nn.functional.scaled_dot_product_attention(q, k, v))
