"""helpers.maps.attention_distance: pixel distances between patches and the ViT paper's mean
attention distance, on attention whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.maps.attention_distance import mean_attention_distance, patch_distances


def test_patch_distances_in_pixels():
    d = patch_distances(3, patch_size=16)
    assert d.shape == (9, 9)
    assert d[0, 1] == 16 and d[0, 3] == 16
    assert math.isclose(float(d[0, 8]), math.hypot(32, 32), rel_tol=1e-6)


def test_mean_attention_distance_local_versus_global():
    grid, n = 4, 17
    local = torch.zeros(1, 1, n, n)
    local[..., torch.arange(n), torch.arange(n)] = 1.0  # every patch attends to itself
    spread = torch.full((1, 1, n, n), 1.0 / n)
    distance = mean_attention_distance([local, spread], grid=grid, patch_size=16)
    assert distance.shape == (2, 1)
    assert distance[0, 0] == 0.0
    expected = float(patch_distances(grid, 16).mean())
    assert math.isclose(float(distance[1, 0]), expected, rel_tol=1e-5)
    with pytest.raises(ValueError, match="grid"):
        mean_attention_distance([local], grid=3)
