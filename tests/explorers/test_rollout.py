"""The rollout explorer: one slow pass per photo, control moves only redo the cheap rollout
(helpers.maps.rollout.cls_rollout), uploads become photos, the status follows the picture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.explorers.base import STATUS_CLASS
from helpers.explorers.rollout import NO_CLASS, RolloutExplorer, prepare_rollout
from helpers.maps.capture import capture_attention
from helpers.maps.gradients import gradient_rollout
from helpers.maps.rollout import DISCARD_RATIOS, attention_rollout

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def two_photos(photos) -> dict:
    return {"chelsea": photos["chelsea"], "coffee": photos["coffee"]}


@pytest.fixture(scope="module")
def prepared() -> dict:
    """Photo -> its RolloutInputs, shared by this module's explorers (the slow path is ~1 s)."""
    return {}


@pytest.fixture()
def explorer(tiny_random_timm, two_photos, prepared, monkeypatch) -> RolloutExplorer:
    def remembered(loaded, image, top_k=3):  # the explorer still calls it once per photo
        key = (image.size, image.tobytes(), top_k)
        if key not in prepared:
            prepared[key] = prepare_rollout(loaded, image, top_k)
        return prepared[key]

    monkeypatch.setattr("helpers.explorers.rollout.prepare_rollout", remembered)
    return RolloutExplorer(tiny_random_timm, two_photos, top_k=2, size=1.5, dpi=40)


def test_prepare_holds_every_fusion_and_class(tiny_random_timm, photos):
    inputs = prepare_rollout(tiny_random_timm, photos["chelsea"], top_k=2)
    assert len(inputs.classes) == 2 and inputs.classes[0][2] >= inputs.classes[1][2]
    assert set(inputs.fused) == {(source, fusion) for source in (NO_CLASS, *[c[0] for c in
                                                                        inputs.classes])
                                 for fusion in ("mean", "max", "min")}
    for key, fused in inputs.fused.items():
        assert fused.shape == (12, 197, 197) and fused.dtype == np.float32, key
        assert inputs.thresholds[key].shape == (len(DISCARD_RATIOS), 12)
    assert inputs.photo.shape == (224, 224, 3)
    with pytest.raises(ValueError, match="top_k"):
        prepare_rollout(tiny_random_timm, photos["chelsea"], top_k=0)


def test_built_once_with_a_status_after_the_picture(explorer):
    assert explorer.computed == 1
    status = explorer.status
    assert status.startswith("chelsea · attention rollout · mean of heads · discard 0% · "
                             "layers 0–11 · brightest patch")
    assert "drawn in" in status
    assert STATUS_CLASS in explorer.status_widget._dom_classes
    assert explorer.image.value[:4] == b"\x89PNG"


def test_the_drawn_map_is_the_rollout_of_those_settings(explorer, tiny_random_timm, two_photos):
    with capture_attention(tiny_random_timm) as attentions:
        tiny_random_timm.logits(tiny_random_timm.batch([two_photos["chelsea"]]))
    def close(got: np.ndarray, want: torch.Tensor) -> bool:
        # float32 attention can hold exact ties at a discard threshold: the explorer drops all
        # tied entries, topk only enough of them, which moves the map by well under 0.5 %
        return float(np.abs(got - want.numpy()).max()) < 5e-3 * float(want.max())

    for fusion, discard, layers in [("max", 90, (0, 11)), ("min", 55, (3, 8)),
                                    ("mean", 0, (11, 11)), ("mean", 99, (1, 10))]:
        explorer.set(fusion=fusion, discard=discard, layers=layers)
        start, end = layers
        assert close(explorer.last_map,
                     attention_rollout(attentions[start:end + 1], fusion, discard / 100)[0])
        assert not close(explorer.last_map,  # the check can tell other settings apart
                         attention_rollout(attentions[start + 1:end + 1] or attentions[:1],
                                           "mean" if fusion != "mean" else "max", 0.3)[0])
        assert f"{fusion} of heads · discard {discard}%" in explorer.status
    target, label, _ = explorer.inputs("chelsea").classes[1]
    explorer.set(target=target, fusion="mean", discard=0, layers=(0, 11))
    want = gradient_rollout(tiny_random_timm, two_photos["chelsea"], target)
    np.testing.assert_allclose(explorer.last_map, want.numpy(), rtol=1e-3, atol=1e-7)
    assert f"gradient rollout: {label}" in explorer.status


def test_every_move_sends_a_new_picture(explorer):
    seen = {explorer.image.value}
    for discard in range(1, 6):  # tiny changes to the map still change the figure's text
        explorer.set(discard=discard)
        seen.add(explorer.image.value)
    explorer.set(fusion="max")
    seen.add(explorer.image.value)
    assert len(seen) == 7


def test_control_moves_never_rerun_the_model(explorer, monkeypatch):
    monkeypatch.setattr("helpers.explorers.rollout.prepare_rollout",
                        lambda *a, **k: pytest.fail("recomputed on a control move"))
    events = []
    explorer.image.observe(lambda c: events.append("image"), names="value")
    explorer.status_widget.observe(lambda c: events.append("status"), names="value")
    explorer.set(discard=90)
    assert events == ["image", "status"]
    before = explorer.last_map.copy()
    explorer.set(layers=(4, 11))
    assert not np.allclose(before, explorer.last_map)
    for target, _, _ in explorer.inputs("chelsea").classes:
        explorer.set(target=target)
    explorer.set(fusion="max")
    assert explorer.computed == 1


def test_a_new_photo_is_computed_once_and_brings_its_classes(explorer):
    first = explorer.inputs("chelsea").classes[0][0]
    explorer.set(target=first)
    explorer.set(image="coffee")
    assert explorer.computed == 2
    assert explorer.target.value == NO_CLASS
    assert [v for _, v in explorer.target.options][1:] == [
        c[0] for c in explorer.inputs("coffee").classes]
    assert np.array_equal(explorer._photo.get_array(), explorer.inputs("coffee").photo)
    assert explorer.status.startswith("coffee · attention rollout")
    explorer.set(image="chelsea")
    explorer.set(image="coffee")
    assert explorer.computed == 2


def test_unknown_controls_are_named(explorer):
    with pytest.raises(ValueError, match="unknown control"):
        explorer.set(head=3)
