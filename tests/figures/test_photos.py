"""Figure helpers return Figures and validate their input."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from helpers.figures.photos import image_grid, image_with_topk

IMAGE = Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8))


def test_image_grid_lays_out_named_images():
    fig = image_grid({"a": IMAGE, "b": IMAGE, "c": IMAGE}, ncols=2)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4  # 2 x 2 grid, the last cell empty
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        image_grid([])


def test_image_with_topk_draws_bars_in_order():
    preds = [("tabby, tabby cat", 0.6), ("tiger cat", 0.3)]
    fig = image_with_topk(IMAGE, preds, title="cat")
    bars_axis = fig.axes[1]
    labels = [t.get_text() for t in bars_axis.get_yticklabels()]
    assert labels == ["tiger cat", "tabby"]  # most probable on top
    widths = [patch.get_width() for patch in bars_axis.patches]
    assert widths == [0.3, 0.6]
    with pytest.raises(ValueError):
        image_with_topk(IMAGE, [])
