"""How far the numbers can be trusted (helpers.evaluation.reliability): the bootstrap interval, its
measured coverage (which justifies MIN_IMAGES), Kendall's τ against scipy, the agreement of two
rankings with its interval, and the held-out lead that refuses "robust" on too few images."""

from __future__ import annotations

import pytest
import torch

from helpers.evaluation.reliability import (
    MIN_IMAGES,
    agreement_verdict,
    bootstrap_coverage,
    bootstrap_interval,
    held_out_lead,
    kendall_tau,
    lead_verdict,
    ranking_agreement,
)


def test_bootstrap_interval():
    values = torch.randn(200, generator=torch.Generator().manual_seed(4)) + 3
    mean, low, high = bootstrap_interval(values)
    assert low < mean < high and abs(mean - 3) < 0.3 and high - low < 0.5
    assert bootstrap_interval(values) == (mean, low, high)  # seeded
    assert bootstrap_interval([2.0]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="finite"):
        bootstrap_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="at least one number"):
        bootstrap_interval([])


def test_coverage_justifies_the_minimum_sample_size():
    """The percentile bootstrap under-covers on few images; from MIN_IMAGES on it is close."""
    small = bootstrap_coverage(4, trials=600)
    enough = bootstrap_coverage(MIN_IMAGES, trials=600)
    assert small < 0.85 < 0.92 <= enough <= 0.98
    assert bootstrap_coverage(8, trials=600, skewed=True) < bootstrap_coverage(8, trials=600)


def test_kendall_tau_matches_scipy_with_ties():
    from scipy.stats import kendalltau

    generator = torch.Generator().manual_seed(0)
    a = torch.rand(9, generator=generator)
    b = a + 0.3 * torch.rand(9, generator=generator)
    tied = torch.tensor([1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 4.0, 5.0, 0.0])
    for x, y in [(a, b), (tied, b), (a, -a)]:
        assert float(kendall_tau(x, y)) == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)
    batched = kendall_tau(torch.stack([a, a]), torch.stack([b, -b]))
    assert batched.shape == (2,) and batched[0] == -batched[1]
    assert torch.isnan(kendall_tau(torch.ones(9), b))


def test_ranking_agreement_of_two_metrics():
    generator = torch.Generator().manual_seed(1)
    quality = torch.arange(6, dtype=torch.float64)  # six methods, clearly ordered
    first = {f"m{i}": quality[i] + 0.3 * torch.randn(40, generator=generator) for i in range(6)}
    same = {m: v + 0.3 * torch.randn(40, generator=generator) for m, v in first.items()}
    tau, low, high = ranking_agreement(first, same)
    assert tau == 1.0 and low > 0.5
    reversed_ = {m: -v for m, v in first.items()}
    tau, low, high = ranking_agreement(first, reversed_)
    assert tau == -1.0 and high < -0.5
    noise = {m: torch.randn(40, generator=generator) for m in first}
    tau, low, high = ranking_agreement(first, noise)
    assert low < 0 < high  # unrelated rankings: τ's interval spans zero
    with pytest.raises(ValueError, match="same methods"):
        ranking_agreement(first, {"m0": first["m0"]})
    assert agreement_verdict(0.1, 0.5, 40) == "agree beyond chance"
    assert agreement_verdict(-0.5, -0.1, 40) == "rank the methods in opposite orders"
    assert agreement_verdict(-0.1, 0.5, 40) == "cannot be told from unrelated rankings"
    assert agreement_verdict(0.1, 0.5, 4).startswith("too few images")


def test_held_out_lead_and_its_verdict():
    generator = torch.Generator().manual_seed(2)
    values = {"clear winner": 1.0 + 0.1 * torch.randn(64, generator=generator),
              "second": 0.5 + 0.1 * torch.randn(64, generator=generator),
              "third": 0.4 + 0.1 * torch.randn(64, generator=generator)}
    lead = held_out_lead(values, higher_is_better=True)
    assert (lead.best, lead.runner_up) == ("clear winner", "second")
    assert lead.n_select == lead.n_test == 32 and lead.difference[1] > 0
    assert lead.verdict == "a robust lead"
    assert held_out_lead({m: -v for m, v in values.items()}, False).best == "clear winner"
    few = held_out_lead({m: v[:8] for m, v in values.items()}, higher_is_better=True)
    assert few.n_test == 4 and few.verdict.startswith("too few images")
    tied = {"a": torch.randn(64, generator=generator), "b": torch.randn(64, generator=generator)}
    assert held_out_lead(tied, True).verdict in ("within the noise", "a robust lead")
    assert lead_verdict(-0.1, 0.2, 40) == "within the noise"
    assert lead_verdict(0.1, 0.2, MIN_IMAGES - 1).startswith("too few images")
