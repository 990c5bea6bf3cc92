"""helpers.finetune.measures: notebook 08's measures of two models on the same images, through
the maps package's public functions; the rows carry paired differences with intervals."""

from __future__ import annotations

import dataclasses

import torch
from tiny_vits import tiny_timm

from helpers.finetune.measures import MEASURED_METHODS, compare_measures, measure_model
from helpers.models.loaded import LoadedModel


def _loaded(seed: int) -> LoadedModel:
    model = tiny_timm(seed)
    return LoadedModel("timm", "tiny", model, lambda image: image, [f"c{i}" for i in range(5)],
                       "random: tiny test ViT", "random")


def test_two_models_measured_and_compared():
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    classes = torch.tensor([0, 1, 2])
    before = measure_model(_loaded(0), pixels, classes, "before", steps=4)
    after = measure_model(_loaded(1), pixels, classes, "after", steps=4)
    assert set(before.maps) == set(MEASURED_METHODS)
    assert all(m.shape == (3, 16) for m in before.maps.values())
    assert set(before.auc) == {"deletion", "insertion"}
    assert all(0.0 <= float(a.min()) and float(a.max()) <= 1.0
               for per in before.auc.values() for a in per.values())
    # rollout never reads the head: re-initialising it leaves its map exactly as it was
    assert torch.all(before.rho_head["rollout (mean)"] > 1 - 1e-9)
    assert torch.all(before.rho_head["random"] > 1 - 1e-9)
    rows = compare_measures(before, after)
    assert {r["method"] for r in rows} == {"rollout (mean)", "gradient rollout"}
    assert len(rows) == 3 * 2
    for row in rows:
        mean, low, high = row["change"]
        assert low <= mean <= high
        first = row["before"][0]
        assert abs(row["after"][0] - first - mean) < 1e-9          # paired: the means subtract


def test_the_models_are_left_as_they_were():
    loaded = _loaded(0)
    state = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    pixels = torch.randn(2, 3, 32, 32)
    measure_model(dataclasses.replace(loaded), pixels, torch.tensor([0, 1]), "m", steps=4)
    assert all(torch.equal(v, loaded.model.state_dict()[k]) for k, v in state.items())
    assert all(p.grad is None for p in loaded.model.parameters())
