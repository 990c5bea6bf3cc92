"""Figure helpers of notebook 04 return figures that show the given arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torchvision.transforms import Compose, Normalize

from helpers.data.preprocessing import pixels_to_image
from helpers.figures.maps import attention_overlays
from helpers.figures.vit import filter_grid, mosaic, patch_grid, position_similarity_grid


def test_mosaic_places_tiles_with_gaps():
    tiles = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    out = mosaic(tiles, gap=1)
    assert out.shape == (2 * 2 + 1, 3 * 2 + 2)
    assert np.array_equal(out[3:5, 6:8], tiles[1, 2])
    assert np.isnan(out[2]).all() and np.isnan(out[:, 2]).all()
    with pytest.raises(ValueError, match="tiles must have shape"):
        mosaic(np.zeros((2, 2, 2)))


def test_pixels_to_image_undoes_normalize():
    photo = torch.rand(3, 8, 8)
    normalize = Normalize(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    back = pixels_to_image(normalize(photo), Compose([normalize]))
    np.testing.assert_allclose(back, photo.permute(1, 2, 0).numpy(), atol=1e-6)
    rescaled = pixels_to_image(photo * 10 - 3)
    assert rescaled.min() == 0 and rescaled.max() == 1
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        pixels_to_image(torch.zeros(8, 8, 3))


def test_figures_are_figures_with_the_expected_panels():
    image = np.random.default_rng(0).random((32, 32, 3))
    fig = patch_grid(image, 8)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "4 x 4 = 16 patches" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="divisible by patch_size=5"):
        patch_grid(image, 5)

    fig = filter_grid(torch.randn(10, 3, 4, 4), explained=[0.1] * 10, ncols=4)
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (3 * 4 + 2 * 2, 4 * 4 + 3 * 2, 3)  # 3 rows x 4 columns of 4x4 tiles
    assert "100% of their variance" in fig.axes[0].get_title()

    sim = torch.rand(3, 3, 3, 3)
    fig = position_similarity_grid(sim)
    assert fig.axes[0].images[0].get_array().shape == (3 * 12 + 2 * 4, 3 * 12 + 2 * 4)  # 4x scale

    maps = np.random.default_rng(1).random((2, 3, 4, 4))
    fig = attention_overlays(image, maps, ["CLS", "patch 5"], ["h0", "h1", "h2"],
                             marks=[None, (1, 1)])
    assert len(fig.axes) == 6
    assert len(fig.axes[3].patches) == 1 and len(fig.axes[0].patches) == 0
    overlay = fig.axes[4].images[1].get_array()
    np.testing.assert_allclose(overlay, maps[1, 1] / maps[1, 1].max())
    with pytest.raises(ValueError, match="need 2 row_labels"):
        attention_overlays(image, maps, ["CLS"], ["h0", "h1", "h2"])
