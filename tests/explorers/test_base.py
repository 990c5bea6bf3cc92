"""helpers.explorers.base.Explorer: redraws from precomputed data, status written after the
image."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from helpers.explorers.base import STATUS_CLASS, Explorer, figure_png

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


def make_explorer():
    data = np.arange(4 * 9, dtype=float).reshape(4, 3, 3)
    fig = Figure(figsize=(2, 2), dpi=50)
    image = fig.subplots().imshow(data[0], vmin=0, vmax=data.max())
    events = []

    def draw(layer):
        image.set_data(data[layer])
        return f"layer {layer}"

    explorer = Explorer({"layer": widgets.IntSlider(value=0, min=0, max=3)}, fig, draw)
    explorer.image.observe(lambda change: events.append(("image", change["new"])), names="value")
    explorer.status_widget.observe(lambda change: events.append(("status", change["new"])),
                            names="value")
    return explorer, events


def test_figure_png_is_a_real_png_of_the_figure_size():
    fig = Figure(figsize=(2, 1), dpi=40)
    fig.subplots().plot([0, 1])
    png = figure_png(fig)
    with Image.open(__import__("io").BytesIO(png)) as img:
        assert img.format == "PNG" and img.size == (80, 40)


def test_moving_a_control_redraws_image_then_status():
    explorer, events = make_explorer()
    first_png = explorer.image.value
    explorer.controls["layer"].value = 2
    assert [kind for kind, _ in events] == ["image", "status"]
    assert events[0][1] != first_png
    assert explorer.status.startswith("layer 2 · drawn in")
    assert STATUS_CLASS in explorer.status_widget._dom_classes
    seconds = explorer.set(layer=3)
    assert seconds == explorer.last_draw_s > 0 and explorer.redraws == 3


def test_set_rejects_unknown_controls():
    explorer, _ = make_explorer()
    with pytest.raises(ValueError, match="unknown control 'head'"):
        explorer.set(head=1)
