"""The attention explorer: computed once, a slider move re-indexes and updates the image,
and the status text follows each redraw."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from ipywidgets import IntSlider

from helpers.explorers.attention import AttentionExplorer, attention_maps_array
from helpers.explorers.base import STATUS_CLASS

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api

DEPTH, HEADS, GRID = 4, 3, 5
TOKENS = GRID * GRID + 1


@pytest.fixture()
def attentions() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(2, HEADS, TOKENS, TOKENS, generator=generator).softmax(-1)
            for _ in range(DEPTH)]


@pytest.fixture()
def explorer(attentions) -> AttentionExplorer:
    image = np.random.default_rng(0).random((40, 40, 3))
    return AttentionExplorer.from_attentions(image, attentions, index=1)


def test_maps_array_drops_the_cls_key_and_lays_patches_on_the_grid(attentions):
    maps = attention_maps_array(attentions, index=1)
    assert maps.shape == (DEPTH, HEADS, TOKENS, GRID, GRID)
    # layer 2, head 1, query token 7, key patch 6 = grid row 1, column 1
    assert maps[2, 1, 7, 1, 1] == pytest.approx(float(attentions[2][1, 1, 7, 1 + 6]))
    stacked = torch.stack([a[1] for a in attentions])  # (depth, heads, N, N)
    assert np.array_equal(attention_maps_array(stacked), maps)


def test_maps_array_rejects_bad_input(attentions):
    with pytest.raises(ValueError, match="empty"):
        attention_maps_array([])
    with pytest.raises(ValueError, match="index must be in"):
        attention_maps_array(attentions, index=2)
    with pytest.raises(ValueError, match="class token first"):
        attention_maps_array([torch.rand(1, 2, 11, 11)])
    with pytest.raises(ValueError, match="one shape"):
        attention_maps_array([torch.rand(1, 2, 10, 10), torch.rand(1, 2, 5, 5)])


def test_slider_moves_update_the_image_and_then_the_status(explorer, attentions):
    assert explorer.status.startswith("layer 0 · head 0 · query CLS")
    assert STATUS_CLASS in explorer.status_widget._dom_classes
    explorer.query.value = 13  # a slider move: observe -> redraw, and the query is no longer CLS
    assert not explorer.use_cls.value
    shown = np.asarray(explorer._overlay.get_array())
    expected = attentions[0][1, 0, 14, 1:].reshape(GRID, GRID).numpy()
    np.testing.assert_allclose(shown, expected / expected.max(), rtol=1e-6)
    expected_share = float(attentions[0][1, 0, 14, 1:].max())
    assert explorer.status.startswith(
        f"layer 0 · head 0 · query patch 13 (row 2, col 3) · brightest patch "
        f"{expected_share:.1%} · drawn in")
    assert re.search(r"drawn in \d+ ms", explorer.status)
    assert explorer.image.value[:2] == b"\xff\xd8"  # a JPEG frame
    assert explorer._box.get_visible() and explorer._box.get_xy() == (3 * 8.0 - 0.5, 2 * 8.0 - 0.5)
    explorer.head.value = 2
    assert "head 2" in explorer.status
    explorer.use_cls.value = True
    assert "query CLS" in explorer.status and not explorer._box.get_visible()


def test_each_redraw_sends_a_new_frame(explorer):
    first = explorer.image.value
    explorer.set(layer=0, head=1, query=3)
    second = explorer.image.value
    assert first != second
    explorer.set(layer=0, head=0, query="cls")  # back to the initial view: same frame
    assert explorer.image.value == first


def test_redraw_sets_controls_once_and_reports_its_time(explorer, attentions):
    calls = []
    original = explorer._draw
    explorer._draw = lambda **values: calls.append(1) or original(**values)
    seconds = explorer.set(layer=1, head=2, query=20)
    assert len(calls) == 1  # three controls changed, one redraw
    assert seconds == explorer.last_draw_s >= 0
    assert (explorer.layer.value, explorer.head.value, explorer.query.value) == (1, 2, 20)
    expected = attentions[1][1, 2, 21, 1:].reshape(GRID, GRID).numpy()
    np.testing.assert_allclose(np.asarray(explorer._overlay.get_array()),
                               expected / expected.max(), rtol=1e-6)
    explorer.set(query="cls")
    assert explorer.use_cls.value
    with pytest.raises(ValueError, match=r"layer must be an integer in \[0, 3\]"):
        explorer.set(layer=4)
    with pytest.raises(ValueError, match="query must be"):
        explorer.set(query="middle")


def test_redraw_only_reindexes(explorer, monkeypatch):
    before = explorer.maps
    monkeypatch.setattr("helpers.explorers.attention.attention_maps_array",
                        lambda *a, **k: pytest.fail("recomputed on redraw"))
    explorer.set(layer=0, head=1, query=3)
    assert explorer.maps is before


def test_bad_image_rejected(attentions):
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, 3\)"):
        AttentionExplorer.from_attentions(np.zeros((40, 40)), attentions)


def test_first_slider_starts_where_a_key_press_changes_the_picture(explorer):
    """The browser test presses ArrowRight on the first slider: that must redraw."""
    sliders = [w for w in explorer.widget.children[0].children if isinstance(w, IntSlider)]
    assert sliders[0] is explorer.layer
    assert explorer.layer.value < explorer.layer.max
    before = explorer.image.value
    explorer.layer.value += 1
    assert explorer.image.value != before
