"""helpers.figures.maps: the veil darkens exactly the patches outside a mask; map_grid draws
heatmaps, masks and colours over photos and rejects mismatched input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from helpers.figures.maps import dim_outside, map_grid


def test_dim_outside_is_clear_inside_and_dark_outside():
    mask = np.array([[True, False], [False, True]])
    veil = dim_outside(mask, alpha=0.5)
    assert veil.shape == (2, 2, 4) and veil.dtype == np.float32
    assert veil[..., :3].max() == 0  # black
    np.testing.assert_array_equal(veil[..., 3], [[0, 0.5], [0.5, 0]])
    assert dim_outside(np.zeros((3, 2, 2), bool)).shape == (3, 2, 2, 4)


def test_map_grid_draws_every_kind_of_cell():
    photo = np.random.default_rng(0).random((32, 32, 3))
    heat = torch.rand(4, 4)
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    rgb = np.random.default_rng(1).random((4, 4, 3))
    fig = map_grid([photo, photo], [[heat, mask, rgb, None], [heat * 0, ~mask, rgb, mask]],
                   ["a", "b"], ["heat", "mask", "rgb", "photo"], notes=[["x"] * 4, [""] * 4])
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert len(axes) == 8
    assert [len(ax.get_images()) for ax in axes[:4]] == [2, 2, 1, 1]
    assert len(axes[1].collections) == 1  # the outline of a partial mask
    assert len(axes[5].collections) == 1
    assert axes[0].get_title() == "heat" and axes[4].get_ylabel() == "b"
    assert axes[0].get_xlabel() == "x"
    overlay = axes[0].get_images()[1].get_array()
    np.testing.assert_allclose(np.asarray(overlay), heat.numpy() / heat.max().item(), rtol=1e-6)


def test_map_grid_rejects_mismatched_input():
    photo = np.zeros((8, 8, 3))
    with pytest.raises(ValueError, match="non-empty list of rows"):
        map_grid(photo, [[np.zeros((2, 2))], []], ["a", "b"], ["c"])
    with pytest.raises(ValueError, match="need 1 row_labels and 1 col_labels"):
        map_grid(photo, [[np.zeros((2, 2))]], ["a", "b"], ["c"])
    with pytest.raises(ValueError, match="one per row"):
        map_grid([photo, photo], [[np.zeros((2, 2))]], ["a"], ["c"])
    with pytest.raises(ValueError, match=r"cells\[0\]\[0\]"):
        map_grid(photo, [[np.zeros((2, 2, 2))]], ["a"], ["c"])


def test_map_grid_colorbar_reads_as_a_share_of_each_maximum():
    photo = np.zeros((32, 32, 3))
    heat = torch.rand(4, 4)
    plain = map_grid(photo, [[heat, heat]], ["a"], ["x", "y"])
    barred = map_grid(photo, [[heat, heat]], ["a"], ["x", "y"], cmap="viridis",
                      colorbar="share of the map's maximum")
    assert len(plain.axes) == 2 and len(barred.axes) == 3       # one bar for the whole grid
    bar = barred.axes[-1]
    assert bar.get_ylabel() == "share of the map's maximum"
    assert bar.get_ylim() == pytest.approx((0.0, 1.0))
