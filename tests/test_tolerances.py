"""helpers.tolerances: a tolerance scaled to the numbers compared, that still catches a bug."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.tolerances import (
    DEEP,
    EPS32,
    assert_same_maths,
    assert_same_top_k,
    rounding_step,
    same_maths_tolerance,
)


def test_the_tolerance_grows_with_the_size_of_the_numbers():
    small, large = torch.full((3,), 0.5), torch.full((3,), 500.0)
    assert same_maths_tolerance(small) == pytest.approx(64 * EPS32 * 0.5)
    assert same_maths_tolerance(large) == pytest.approx(64 * EPS32 * 500)
    assert same_maths_tolerance(large, ulps=DEEP) == pytest.approx(1024 * EPS32 * 500)
    assert same_maths_tolerance(small, scale=10.0) == pytest.approx(64 * EPS32 * 10)


def test_two_summation_orders_agree_and_a_real_difference_fails():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3072, generator=generator) * 10  # (rows, terms)
    forward = x.sum(-1)
    backward = x.flip(-1).cumsum(-1)[:, -1]  # the same sums, added in another order
    assert not torch.equal(forward, backward)  # rounding differs ...
    assert_same_maths(forward, backward)  # ... within the tolerance
    with pytest.raises(AssertionError, match="greatest difference"):
        assert_same_maths(forward, backward + 1e-2 * forward.abs().max())


def test_gelu_by_tanh_is_not_the_same_maths():
    """One layer's bug is caught at one layer's tolerance (5e-4 where rounding gives ~1e-6)."""
    x = torch.linspace(-4, 4, 1001)
    with pytest.raises(AssertionError):
        assert_same_maths(torch.nn.functional.gelu(x, approximate="tanh"),
                          torch.nn.functional.gelu(x))


def test_shapes_nan_numpy_and_zeros():
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_same_maths(torch.zeros(2), torch.zeros(3))
    with pytest.raises(AssertionError):
        assert_same_maths(torch.tensor([float("nan")]), torch.tensor([1.0]))
    assert_same_maths(np.ones(4, dtype=np.float32), torch.ones(4, dtype=torch.float64))
    assert_same_maths(torch.zeros(3), torch.zeros(3))
    with pytest.raises(AssertionError):
        assert_same_maths(torch.zeros(3), torch.tensor([0.0, 0.0, 1e-20]))


def test_lower_precision_compares_at_its_own_step():
    assert rounding_step(torch.ones(2)) == EPS32
    assert rounding_step(torch.ones(2, dtype=torch.bfloat16)) == 2.0 ** -7
    exact = torch.linspace(0, 1, 50)
    with pytest.raises(AssertionError):  # bfloat16's rounding, judged at float32's step
        assert_same_maths(exact.bfloat16().float(), exact, ulps=4)
    assert_same_maths(exact.bfloat16(), exact, ulps=4)  # judged at its own step
    with pytest.raises(AssertionError):
        assert_same_maths((exact + 0.05).bfloat16(), exact, ulps=4)


def test_top_k_order_is_compared_except_within_rounding():
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    assert_same_top_k(scores, scores.clone(), k=3)
    near_tie = torch.tensor([[5.0, 4.0, 4.0 - 1e-5, 2.0, 1.0, 0.0]])  # places 1, 2 within rounding
    assert_same_top_k(near_tie[:, [0, 2, 1, 3, 4, 5]], near_tie, k=3)  # may come out swapped
    swapped = torch.tensor([[5.0, 3.0, 4.0, 2.0, 1.0, 0.0]])
    with pytest.raises(AssertionError, match="place 1"):
        assert_same_top_k(swapped, scores, k=3)
