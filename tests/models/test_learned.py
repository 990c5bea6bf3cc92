"""Principal components of patch filters and position-embedding similarity."""

from __future__ import annotations

import pytest
import torch

from helpers.models.learned import filter_components, position_similarity


def test_filter_components_are_orthonormal_and_sorted():
    weight = torch.randn(64, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    components, explained = filter_components(weight, k=10)
    assert components.shape == (10, 3, 4, 4) and explained.shape == (10,)
    flat = components.reshape(10, -1).double()
    torch.testing.assert_close(flat @ flat.T, torch.eye(10, dtype=torch.float64), atol=1e-5,
                               rtol=0)
    assert (explained[:-1] >= explained[1:]).all() and explained.sum() <= 1


def test_filter_components_find_a_planted_pattern():
    generator = torch.Generator().manual_seed(1)
    pattern = torch.randn(3, 4, 4, generator=generator)
    pattern /= pattern.norm()
    weight = torch.randn(200, 1, 1, 1, generator=generator) * 10 * pattern  # (200, 3, 4, 4)
    weight += 0.01 * torch.randn(200, 3, 4, 4, generator=generator)
    components, explained = filter_components(weight, k=2)
    assert abs(float((components[0] * pattern).sum())) > 0.999  # up to sign
    assert explained[0] > 0.99


def test_position_similarity_shape_and_self_similarity():
    pos = torch.randn(1, 1 + 16, 8, generator=torch.Generator().manual_seed(2))
    sim = position_similarity(pos)
    assert sim.shape == (4, 4, 4, 4)
    for i in range(4):
        for j in range(4):
            assert sim[i, j, i, j] == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(sim.reshape(16, 16), sim.reshape(16, 16).T)
    # the class token's row is skipped: changing it changes nothing
    changed = pos.clone()
    changed[0, 0] = 100
    assert torch.equal(position_similarity(changed), sim)


def test_position_similarity_of_a_smooth_embedding_is_local():
    rows, cols = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
    freqs = torch.arange(1, 5.0) * 0.3
    features = [torch.sin(rows[..., None] * freqs), torch.cos(rows[..., None] * freqs),
                torch.sin(cols[..., None] * freqs), torch.cos(cols[..., None] * freqs)]
    pos = torch.cat(features, dim=-1).reshape(25, -1)  # (25, 16): a 2-D sinusoidal code
    sim = position_similarity(torch.cat([torch.zeros(1, 16), pos]))
    assert sim[2, 2, 2, 3] > sim[2, 2, 2, 4] > sim[2, 2, 0, 0]


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"\(D, C, P, P\)"):
        filter_components(torch.zeros(4, 48))
    with pytest.raises(ValueError, match="k must be between 1 and"):
        filter_components(torch.zeros(4, 3, 2, 2), k=5)
    with pytest.raises(ValueError, match="not a square grid"):
        position_similarity(torch.zeros(1, 1 + 15, 8))
