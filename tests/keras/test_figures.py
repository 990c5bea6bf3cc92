"""helpers.keras.figures: figures are built from arrays and check their input."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers.keras.figures import (
    attention_rows,
    history_figure,
    patches_figure,
    prediction_grid,
)

RNG = np.random.default_rng(0)


def _history(n: int) -> dict[str, list[float]]:
    keys = ["cross-entropy", "accuracy", "top-5-accuracy"]
    return {k: list(RNG.random(n)) for key in keys for k in (key, f"val_{key}")}


def test_patch_grid_places_each_patch_on_its_grid_cell():
    image = RNG.integers(0, 256, size=(12, 12, 3)).astype(np.uint8)
    patches = image.reshape(3, 4, 3, 4, 3).transpose(0, 2, 1, 3, 4).reshape(9, 48)
    fig = patches_figure(image, patches, 4)
    canvas = fig.axes[1].images[0].get_array()
    assert canvas.shape == (14, 14, 3)  # 3 patches of 4 pixels + 2 gaps
    np.testing.assert_array_equal(canvas[5:9, 10:14], image[4:8, 8:12])  # row 1, column 2
    assert "9 patches" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="square"):
        patches_figure(image, patches[:8], 4)


def test_history_figure_draws_train_and_validation_for_each_run():
    fig = history_figure({"faithful": _history(3), "improved": _history(3)})
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert len(fig.axes[1].lines) == 4  # 2 runs x (train, validation)
    assert fig.axes[2].get_title() == "top-5 accuracy"
    broken = _history(2)
    del broken["val_accuracy"]
    with pytest.raises(ValueError, match="val_accuracy"):
        history_figure({"x": broken})


def test_prediction_grid_colours_right_and_wrong():
    images = RNG.integers(0, 256, size=(3, 8, 8, 3)).astype(np.uint8)
    fig = prediction_grid(images, [0, 1, 2], [0, 2, 2], ["a", "b", "c"], ncols=3)
    titles = [ax.title for ax in fig.axes[:3]]
    assert titles[0].get_text() == "a\n/ a" and titles[1].get_text() == "c\n/ b"
    assert titles[0].get_color() == "tab:green" and titles[1].get_color() == "tab:red"
    with pytest.raises(ValueError, match="labels"):
        prediction_grid(images, [0], [0, 1, 2], ["a", "b", "c"])


def test_attention_overlay_stretches_each_map_over_its_image():
    images = RNG.integers(0, 256, size=(2, 32, 32, 3)).astype(np.uint8)
    maps = RNG.random((2, 8, 8))
    fig = attention_rows(images, maps, titles=["x", "y"])
    assert len(fig.axes) == 4
    overlay = fig.axes[1 * 2 + 0].images[1]  # bottom row, first image
    assert overlay.get_extent() == [-0.5, 31.5, 31.5, -0.5]
    with pytest.raises(ValueError, match="maps"):
        attention_rows(images, maps[0])
