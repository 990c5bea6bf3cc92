"""The randomisation cascade (helpers.maps.sanity): it really changes the weights of every stage
it reaches, leaves the others and the original model alone, restores nothing by accident, is
seeded without touching the global random state; and Spearman's rank correlation with ties."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from helpers.maps.sanity import (
    average_ranks,
    cascade_stages,
    randomisation_cascade,
    rank_correlation,
    reinitialise,
)

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def trained_like(tiny_random_timm):
    """A copy of the tiny model whose weights are off their initial values (as trained ones)."""
    loaded = copy.deepcopy(tiny_random_timm)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in loaded.model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.05)
    return loaded


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_stages_run_from_the_head_down(trained_like):
    names = [name for name, _ in cascade_stages(trained_like)]
    assert names == ["head"] + [f"block {i}" for i in range(11, -1, -1)]
    assert cascade_stages(trained_like)[1][1] is trained_like.model.blocks[11]


def test_cascade_changes_each_stage_and_nothing_else(trained_like):
    original = _state(trained_like.model)
    stage_keys = {name: [f"{prefix}.{k}" for k in module.state_dict()]
                  for (name, module), prefix in zip(
                      cascade_stages(trained_like),
                      ["head"] + [f"blocks.{i}" for i in range(11, -1, -1)], strict=True)}
    done: list[str] = []
    seen = []
    for name, randomised in randomisation_cascade(trained_like, seed=3):
        seen.append(name)
        done += stage_keys[name]
        assert randomised is not trained_like and randomised.labels is trained_like.labels
        now = randomised.model.state_dict()
        for key, value in original.items():
            if key in done:
                assert not torch.equal(now[key], value), f"{name}: {key} was not re-initialised"
            else:
                assert torch.equal(now[key], value), f"{name}: {key} changed too early"
    assert seen == [name for name, _ in cascade_stages(trained_like)]
    after = _state(trained_like.model)
    assert all(torch.equal(after[k], v) for k, v in original.items())  # the original is intact


def test_cascade_is_seeded_reports_chosen_stages_and_spares_the_global_rng(trained_like):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = [(n, _state(m.model)) for n, m in randomisation_cascade(
        trained_like, seed=5, report=["block 11", "block 6"])]
    assert torch.equal(torch.rand(3), expected)  # the global stream did not move
    assert [n for n, _ in first] == ["block 11", "block 6"]
    again = [(n, _state(m.model)) for n, m in randomisation_cascade(
        trained_like, seed=5, report=["block 11", "block 6"])]
    for (_, a), (_, b) in zip(first, again, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    # at "block 6", blocks 7-11 were randomised on the way
    assert not torch.equal(first[1][1]["blocks.8.attn.qkv.weight"],
                           trained_like.model.state_dict()["blocks.8.attn.qkv.weight"])
    with pytest.raises(ValueError, match="unknown stages"):
        next(randomisation_cascade(trained_like, report=["block 99"]))


def test_reinitialise_draws_fresh_values():
    layer = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    extra = torch.nn.Parameter(torch.ones(3))
    layer.register_parameter("extra", extra)
    with torch.no_grad():
        layer[1].weight.fill_(2.0)
        layer[1].bias.fill_(0.5)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    assert reinitialise(layer, seed=1) == 5
    after = layer.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(after["1.weight"], torch.ones(4))  # LayerNorm's own initialisation
    assert float(after["extra"].abs().max()) < 0.2        # no reset_parameters: normal(0, 0.02)


def test_rank_correlation_with_ties():
    from scipy.stats import spearmanr

    generator = torch.Generator().manual_seed(0)
    a = torch.rand(3, 49, generator=generator)
    b = a + 0.5 * torch.rand(3, 49, generator=generator)
    tied = torch.randn(3, 49, generator=generator).clamp_min(0)  # many zeros
    for x, y in [(a, b), (tied, b), (a, tied)]:
        got = rank_correlation(x, y)
        want = [spearmanr(x[i], y[i]).statistic for i in range(3)]
        assert np.allclose(got.numpy(), want, atol=1e-12)
    assert torch.allclose(rank_correlation(a, a), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(rank_correlation(a, -a), -torch.ones(3, dtype=torch.float64))
    assert rank_correlation(a.reshape(3, 7, 7), torch.ones(3, 7, 7)).tolist() == [0.0] * 3
    assert average_ranks(torch.tensor([5.0, 1.0, 5.0, 3.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    with pytest.raises(ValueError, match="same shape"):
        rank_correlation(a, a[:, :10])
