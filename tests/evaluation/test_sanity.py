"""The randomisation cascade (helpers.evaluation.sanity): it really changes the weights of every
stage it reaches, leaves the others and the original model alone, reaches every parameter tensor by
its last stage (in all three libraries), is seeded without touching the global random state; the
independent variant changes one stage at a time; Spearman's rank correlation with ties, and
undefined (NaN) for a constant map."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from helpers.evaluation.sanity import (
    average_ranks,
    cascade_stages,
    independent_randomisation,
    map_similarity,
    randomisation_cascade,
    rank_by_abs_correlation,
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


STAGES = ["head", "final norm"] + [f"block {i}" for i in range(11, -1, -1)] + ["embeddings"]


def _stage_keys(model) -> dict[str, set[str]]:
    """Stage name -> the state-dict keys of the parameters it holds."""
    names = {id(p): key for key, p in model.named_parameters()}
    return {name: {names[id(p)] for p in stage.parameters()}
            for name, stage in cascade_stages(model)}


def test_stages_run_from_the_head_down_to_the_input_and_hold_every_parameter(trained_like):
    stages = cascade_stages(trained_like)
    assert [name for name, _ in stages] == STAGES
    assert stages[2][1] is trained_like.model.blocks[11]
    keys = _stage_keys(trained_like.model)
    assert keys["embeddings"] == {"cls_token", "pos_embed", "patch_embed.proj.weight",
                                  "patch_embed.proj.bias"}
    assert keys["final norm"] == {"norm.weight", "norm.bias"}
    every = [key for stage in keys.values() for key in stage]
    assert sorted(every) == sorted(k for k, _ in trained_like.model.named_parameters())


@pytest.mark.parametrize("library", ["torchvision", "transformers"])
def test_every_parameter_has_a_stage_in_the_other_libraries(library):
    from tiny_vits import DEPTH, tiny_trio

    model = tiny_trio()[library]
    keys = _stage_keys(model)
    assert list(keys) == ["head", "final norm"] + [f"block {i}" for i in range(
        DEPTH - 1, -1, -1)] + ["embeddings"]
    every = [key for stage in keys.values() for key in stage]
    assert sorted(every) == sorted(k for k, _ in model.named_parameters())
    assert any("pos" in key or "position" in key for key in keys["embeddings"])


def test_cascade_changes_each_stage_and_nothing_else(trained_like):
    original = _state(trained_like.model)
    stage_keys = _stage_keys(trained_like.model)
    done: set[str] = set()
    seen = []
    for name, randomised in randomisation_cascade(trained_like, seed=3):
        seen.append(name)
        done |= stage_keys[name]
        assert randomised is not trained_like and randomised.labels is trained_like.labels
        now = randomised.model.state_dict()
        for key, value in original.items():
            if key in done:
                assert not torch.equal(now[key], value), f"{name}: {key} was not re-initialised"
            else:
                assert torch.equal(now[key], value), f"{name}: {key} changed too early"
    assert seen == STAGES
    assert done == set(original)  # by the last stage every parameter tensor is re-initialised
    after = _state(trained_like.model)
    assert all(torch.equal(after[k], v) for k, v in original.items())  # the original is intact


def test_independent_randomisation_changes_one_stage_at_a_time(trained_like):
    original = _state(trained_like.model)
    stage_keys = _stage_keys(trained_like.model)
    cascade = dict((n, _state(m.model)) for n, m in randomisation_cascade(
        trained_like, seed=3, report=["head"]))
    seen = []
    for name, randomised in independent_randomisation(
            trained_like, seed=3, report=["head", "block 6", "embeddings"]):
        seen.append(name)
        now = randomised.model.state_dict()
        for key, value in original.items():
            assert torch.equal(now[key], value) != (key in stage_keys[name]), (name, key)
        if name == "head":  # the same draw as the cascade's first stage
            assert all(torch.equal(now[k], cascade["head"][k]) for k in stage_keys["head"])
    assert seen == ["head", "block 6", "embeddings"]
    assert all(torch.equal(v, _state(trained_like.model)[k]) for k, v in original.items())


def _refuse(*args, **kwargs):
    raise AssertionError("a global seed was set")


def test_cascade_is_seeded_reports_chosen_stages_and_spares_the_global_rng(trained_like,
                                                                           monkeypatch):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = [(n, _state(m.model)) for n, m in randomisation_cascade(
        trained_like, seed=5, report=["block 11", "block 6"])]
    assert torch.equal(torch.rand(3), expected)  # the global stream did not move
    assert [n for n, _ in first] == ["block 11", "block 6"]
    monkeypatch.setattr(torch, "manual_seed", _refuse)  # would reseed every CUDA device
    monkeypatch.setattr(torch.cuda, "manual_seed_all", _refuse)
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
    assert torch.isnan(rank_correlation(a.reshape(3, 7, 7), torch.ones(3, 7, 7))).all()
    signed = torch.randn(3, 49, generator=generator)
    both = map_similarity(signed, -signed)
    assert torch.allclose(both["signed"], -torch.ones(3, dtype=torch.float64))
    assert torch.allclose(both["absolute"], torch.ones(3, dtype=torch.float64))  # |x| = |-x|
    assert average_ranks(torch.tensor([5.0, 1.0, 5.0, 3.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    with pytest.raises(ValueError, match="same shape"):
        rank_correlation(a, a[:, :10])


def test_ranking_by_abs_rho_flags_a_constant_map():
    maps = torch.rand(4, 49, generator=torch.Generator().manual_seed(1))
    trained = {"reversed": maps, "kept": maps, "changed": maps, "collapsed": maps}
    noise = torch.rand(4, 49, generator=torch.Generator().manual_seed(2))
    randomised = {"reversed": -maps, "kept": maps + 0.05 * noise, "changed": noise,
                  "collapsed": torch.zeros(4, 49)}  # a map that fell to a constant
    rho = {m: rank_correlation(trained[m], randomised[m]) for m in trained}
    assert torch.isnan(rho["collapsed"]).all()  # undefined, not a perfect 0
    ranking = rank_by_abs_correlation(rho)
    assert [r.method for r in ranking] == ["changed", "kept", "reversed", "collapsed"]
    assert ranking[0].mean_abs < 0.5 and ranking[-1].undefined == 4 == ranking[-1].total
    assert ranking[1].mean_abs > 0.9 and ranking[2].mean_abs > 0.9  # -1 counts as unchanged
    partly = rank_by_abs_correlation({"a": torch.tensor([0.9, float("nan")]),
                                      "b": torch.tensor([0.95, 0.9])})
    assert [r.method for r in partly] == ["b", "a"] and partly[1].undefined == 1
