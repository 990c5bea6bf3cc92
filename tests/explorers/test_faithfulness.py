"""Notebook 08's explorer: one slow pass per photo (every map and both curves), control moves only
recompose the picture; the partly removed photo and the marker follow the step; every move sends a
new picture, and the status says what is shown."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.evaluation.faithfulness import curve_auc, perturbation_curves
from helpers.explorers.base import STATUS_CLASS
from helpers.explorers.faithfulness import FaithfulnessExplorer, prepare_faithfulness
from helpers.maps.attribution import METHODS
from helpers.tolerances import DEEP, assert_same_maths

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api

STEPS = 4
CHEAP = {"steps": STEPS, "occlusion_window": 112, "size": 1.5, "dpi": 40}


@pytest.fixture(scope="module")
def prepared(tiny_random_timm, photos):
    return {name: prepare_faithfulness(tiny_random_timm, photos[name], STEPS,
                                       occlusion_window=112) for name in ("chelsea", "coffee")}


@pytest.fixture()
def explorer(tiny_random_timm, photos, prepared, monkeypatch) -> FaithfulnessExplorer:
    by_size = {photos[name].size: inputs for name, inputs in prepared.items()}
    monkeypatch.setattr("helpers.explorers.faithfulness.prepare_faithfulness",
                        lambda loaded, image, *a, **k: by_size[image.size])
    return FaithfulnessExplorer(tiny_random_timm, {n: photos[n] for n in prepared}, **CHEAP)


def test_prepare_holds_every_map_and_both_curves(tiny_random_timm, photos, prepared):
    inputs = prepared["chelsea"]
    assert inputs.photo.shape == (224, 224, 3)
    assert {mode: image.shape for mode, image in inputs.removed.items()} == {
        "deletion": (224, 224, 3), "insertion": (224, 224, 3)}
    # RISE's pairing: deleted patches turn one flat grey, insertion starts from a blurred copy
    assert inputs.removed["deletion"].std() < 1e-3 < inputs.removed["insertion"].std()
    assert set(inputs.heat) == set(METHODS) == set(inputs.orders)
    for method in METHODS:
        assert sorted(inputs.orders[method].tolist()) == list(range(196))
        assert inputs.heat[method].shape == (14, 14, 4)
        for mode in ("deletion", "insertion"):
            curve = inputs.curves[method, mode]
            assert curve.shape == (STEPS + 1,)
            assert inputs.aucs[method, mode] == pytest.approx(
                float(curve_auc(torch.from_numpy(curve))))
    pixels = tiny_random_timm.batch([photos["chelsea"]])
    order = torch.from_numpy(inputs.orders["rollout (mean)"])
    ranked = torch.zeros(1, 196)
    ranked[0, order] = torch.linspace(1, 0, 196)  # the same order as a map
    want = perturbation_curves(tiny_random_timm, pixels, ranked,
                               tiny_random_timm.logits(pixels).argmax(-1), steps=STEPS)
    # the explorer's batches against this call's: probabilities, rounded differently
    assert_same_maths(inputs.curves["rollout (mean)", "deletion"], want[0].numpy(), ulps=DEEP,
                      scale=1.0)


def test_built_once_with_a_status_after_the_picture(explorer):
    assert explorer.computed == 1
    assert explorer.status.startswith(f"chelsea · occlusion · deletion step {STEPS // 2}/{STEPS} "
                                      "(50% of patches removed) · p = ")
    assert "drawn in" in explorer.status and STATUS_CLASS in explorer.status_widget._dom_classes
    assert explorer.image.value[:2] == b"\xff\xd8"  # JPEG


def test_the_partly_removed_photo_and_the_marker_follow_the_step(explorer, prepared):
    inputs = prepared["chelsea"]
    for curve in ("deletion", "insertion"):
        for step in range(STEPS + 1):
            explorer.set(method="Chefer relevance", curve=curve, step=step)
            shown = np.asarray(explorer._partial.get_array())  # (224, 224, 3)
            original = np.all(np.isclose(shown, inputs.photo), axis=-1)
            per_patch = original.reshape(14, 16, 14, 16).all(axis=(1, 3)).sum()
            moved = step * 196 // STEPS
            assert per_patch == (196 - moved if curve == "deletion" else moved), (curve, step)
            assert explorer.last_probability == float(
                inputs.curves["Chefer relevance", curve][step])
            assert f"{curve} step {step}/{STEPS}" in explorer.status


def test_every_move_sends_a_new_picture_and_never_reruns_the_model(explorer, monkeypatch):
    monkeypatch.setattr("helpers.explorers.faithfulness.prepare_faithfulness",
                        lambda *a, **k: pytest.fail("recomputed on a control move"))
    previous = explorer.image.value
    moves = [{"step": s} for s in (1, 2, 3, 2, 1, 0)] + [
        {"method": "random"}, {"method": "Grad-CAM"}, {"curve": "insertion"}, {"step": 4}]
    for move in moves:
        explorer.set(**move)
        assert explorer.image.value != previous, move
        previous = explorer.image.value
    assert explorer.computed == 1


def test_a_new_photo_redraws_its_background(explorer, prepared):
    explorer.set(image="coffee", step=0)
    assert explorer.computed == 2
    assert np.array_equal(explorer._photo.get_array(), prepared["coffee"].photo)
    assert explorer.status.startswith("coffee · occlusion · deletion step 0/")
    coffee = explorer.image.value
    explorer.set(image="chelsea")
    assert explorer._photo.get_array() is not None and explorer.image.value != coffee
    explorer.set(image="coffee")  # back: its cached background, the same picture as before
    assert explorer.image.value == coffee and explorer.computed == 2


def test_a_model_without_labels_is_refused(tiny_random_timm, photos):
    import dataclasses

    headless = dataclasses.replace(tiny_random_timm, labels=[])
    with pytest.raises(ValueError, match="needs a classifier"):
        prepare_faithfulness(headless, photos["chelsea"])
