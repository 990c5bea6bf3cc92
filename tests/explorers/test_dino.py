"""The DINO explorer: one forward pass per photo, control moves only re-index precomputed
pictures, uploads become new photos, and the status line follows every redraw."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.explorers.base import STATUS_CLASS
from helpers.explorers.dino import KEEPS, KINDS, DinoExplorer, dino_inputs
from helpers.maps.dino import image_maps, mass_threshold_mask

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def two_photos(photos) -> dict:
    return {"chelsea": photos["chelsea"], "coffee": photos["coffee"]}


@pytest.fixture()
def explorer(tiny_random_timm, two_photos) -> DinoExplorer:
    return DinoExplorer(tiny_random_timm, two_photos, size=2.0, dpi=40)


def test_make_layers_shapes_and_masks(tiny_random_timm, photos):
    maps = image_maps(tiny_random_timm, [photos["chelsea"]])
    layers = dino_inputs(maps)
    heads = maps.attention.shape[1]
    assert set(layers.over) == set(layers.alone) == set(KINDS)
    assert layers.over["CLS attention"].shape == (heads, 14, 14, 4)
    assert layers.over["attention mask"].shape == (len(KEEPS), heads, 14, 14, 4)
    for kind in ("token norm", "PCA colours", "PCA foreground"):
        assert layers.over[kind].shape == layers.alone[kind].shape == (14, 14, 4)
    t = int(np.searchsorted(KEEPS, 60))  # the slider counts in percent
    assert KEEPS[t] == 60 and KEEPS[0] == 1 and KEEPS[-1] == 100
    mask = mass_threshold_mask(maps.attention[0].flatten(1), 0.6).reshape(heads, 14, 14).numpy()
    veil = layers.over["attention mask"][t][..., 3]  # (heads, g, g): 0 inside the mask
    assert np.array_equal(veil == 0, mask)
    assert np.array_equal(layers.kept[t], mask.sum(axis=(1, 2)))
    for rgba in [*layers.over.values(), *layers.alone.values()]:
        assert rgba.dtype == np.uint8


def test_built_once_with_a_status_after_the_picture(explorer):
    assert explorer.computed == 1
    assert explorer.status.startswith(
        "chelsea · attention mask · head 0: ")
    assert "hold 60% of the mass" in explorer.status
    assert "drawn in" in explorer.status
    assert STATUS_CLASS in explorer.status_widget._dom_classes
    assert explorer.image.value[:4] == b"\x89PNG"


def test_control_moves_reindex_without_recomputing(explorer, monkeypatch):
    monkeypatch.setattr("helpers.explorers.dino.image_maps",
                        lambda *a, **k: pytest.fail("recomputed on a control move"))
    events = []
    explorer.image.observe(lambda c: events.append("image"), names="value")
    explorer.status_widget.observe(lambda c: events.append("status"), names="value")
    layers = explorer.inputs("chelsea")
    explorer.set(head=2)
    assert events == ["image", "status"]
    assert np.array_equal(explorer._over.get_array(), layers.over["attention mask"][59, 2])
    assert "head 2" in explorer.status
    explorer.set(kind="CLS attention")
    assert np.array_equal(explorer._over.get_array(), layers.over["CLS attention"][2])
    assert np.array_equal(explorer._alone.get_array(), layers.alone["CLS attention"][2])
    explorer.set(kind="attention mask", keep=30)
    t = int(np.searchsorted(KEEPS, 30))
    assert np.array_equal(explorer._alone.get_array(), layers.alone["attention mask"][t, 2])
    assert f"{layers.kept[t, 2]} patches hold 30% of the mass" in explorer.status
    for kind in ("token norm", "PCA colours", "PCA foreground"):
        explorer.set(kind=kind)
        assert np.array_equal(explorer._over.get_array(), layers.over[kind])
        assert explorer.status.startswith(f"chelsea · {kind}")


def test_a_new_photo_is_computed_once(explorer):
    explorer.set(image="coffee")
    assert explorer.computed == 2
    assert np.array_equal(explorer._photo.get_array(), explorer.inputs("coffee").photo)
    explorer.set(image="chelsea")
    explorer.set(image="coffee")
    assert explorer.computed == 2
    assert explorer.status.startswith("coffee ·")


def test_unknown_controls_are_named(explorer):
    with pytest.raises(ValueError, match="unknown control"):
        explorer.set(layer=3)
