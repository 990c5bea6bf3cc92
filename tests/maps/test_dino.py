"""helpers.maps.dino: mass-threshold masks (minimal and covering), CLS attention and token-norm
maps, patch PCA (matches scikit-learn, sign chosen by the border rule), and one pass over a real
ViT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from helpers.maps.dino import (
    cls_attention_maps,
    image_maps,
    mass_threshold_mask,
    patch_pca,
    pca_foreground_mask,
    pca_rgb,
    token_norm_map,
)
from helpers.tolerances import DEEP, assert_same_maths

# --------------------------------------------------------------------------- mass threshold


def assert_minimal_and_covering(weights: np.ndarray, mask: np.ndarray, keep: float) -> None:
    """Each row's mask holds >= keep of the total, and one patch fewer could not."""
    weights = np.asarray(weights, dtype=np.float64).reshape(-1, weights.shape[-1])
    mask = np.asarray(mask).reshape(weights.shape)
    for row, kept in zip(weights, mask, strict=True):
        total = row.sum()
        count = int(kept.sum())
        assert count >= 1
        assert row[kept].sum() >= keep * total * (1 - 1e-12)  # coverage
        best_smaller = np.sort(row)[::-1][:count - 1].sum()  # the most any count-1 could hold
        assert best_smaller < keep * total * (1 + 1e-12)  # minimality
        if count < len(row):  # the kept patches are the largest ones
            assert row[kept].min() >= row[~kept].max()


def test_mask_small_examples_by_hand():
    w = np.array([0.2, 0.5, 0.3])
    assert mass_threshold_mask(w, 0.6).tolist() == [False, True, True]
    assert mass_threshold_mask(w, 0.5).tolist() == [False, True, False]  # reached exactly
    assert mass_threshold_mask(w, 0.51).tolist() == [False, True, True]
    assert mass_threshold_mask(w, 1.0).tolist() == [True, True, True]
    assert mass_threshold_mask(np.array([0.7, 0.0, 0.3]), 1.0).tolist() == [True, False, True]
    assert mass_threshold_mask(np.array([3.0, 1.0]), 0.75).tolist() == [True, False]  # unnormalised


def test_mask_ties_keep_exactly_the_fewest_earliest_first():
    mask = mass_threshold_mask(torch.full((2, 8), 0.125), 0.5)
    assert mask.sum(-1).tolist() == [4, 4]
    assert mask[0].tolist() == [True] * 4 + [False] * 4


def test_mask_batched_torch_keeps_shape_device_and_input():
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(2, 12, 196, generator=generator).softmax(-1)  # (B, heads, P)
    before = weights.clone()
    mask = mass_threshold_mask(weights, 0.6)
    assert mask.dtype == torch.bool and mask.shape == weights.shape
    assert mask.device == weights.device
    assert torch.equal(weights, before)
    assert_minimal_and_covering(weights.numpy(), mask.numpy(), 0.6)
    per_row = torch.stack([mass_threshold_mask(row, 0.6) for row in weights.reshape(-1, 196)])
    assert torch.equal(per_row.reshape(mask.shape), mask)


def test_mask_matches_dinos_own_formulation_on_random_attention():
    """DINO's visualize_attention.py sorts ascending and keeps cumsum > 1 - threshold."""
    generator = torch.Generator().manual_seed(1)
    attentions = torch.randn(12, 196, generator=generator).mul(3).softmax(-1)  # (heads, P)
    val, idx = torch.sort(attentions)
    val /= torch.sum(val, dim=1, keepdim=True)
    cumval = torch.cumsum(val, dim=1)
    th_attn = cumval > (1 - 0.6)
    idx2 = torch.argsort(idx)
    dino = torch.stack([th_attn[head][idx2[head]] for head in range(12)])
    assert torch.equal(mass_threshold_mask(attentions, 0.6), dino)


@settings(max_examples=200, deadline=None)
@given(weights=arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 40)),
                      elements=st.one_of(st.just(0.0), st.floats(0.0, 1e3))),
       keep=st.floats(1e-6, 1.0))
def test_mask_is_minimal_and_covering_hypothesis(weights, keep):
    weights[:, 0] += 1e-3  # every row needs a positive sum
    mask = mass_threshold_mask(weights, keep)
    assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == weights.shape
    assert_minimal_and_covering(weights, mask, keep)


@pytest.mark.parametrize("seed", range(5))
def test_mask_is_minimal_and_covering_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    weights = rng.random((3, 5, 64)) ** rng.uniform(0.5, 6)
    weights[rng.random(weights.shape) < 0.2] = 0.0
    weights[..., 0] += 0.01
    for keep in (0.05, 0.6, 0.9, 1.0):
        assert_minimal_and_covering(weights, mass_threshold_mask(weights, keep), keep)


@pytest.mark.parametrize("keep", [0, 0.0, -0.1, 1.0001, 2, float("nan"), True, "0.6", None])
def test_mask_rejects_keep_outside_0_1(keep):
    with pytest.raises(ValueError, match=r"keep must be a number in \(0, 1\]"):
        mass_threshold_mask(np.ones(4), keep)


def test_mask_rejects_bad_weights():
    with pytest.raises(ValueError, match="non-negative"):
        mass_threshold_mask(np.array([0.5, -0.1, 0.6]))
    with pytest.raises(ValueError, match=r"1 row\(s\) .* all zero"):
        mass_threshold_mask(np.array([[0.5, 0.5], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        mass_threshold_mask(torch.tensor([0.5, float("nan")]))
    with pytest.raises(ValueError, match=r"\(\.\.\., num_patches\)"):
        mass_threshold_mask(torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"\(\.\.\., num_patches\)"):
        mass_threshold_mask(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="torch tensor or numpy array"):
        mass_threshold_mask([0.5, 0.5])


# --------------------------------------------------------------------------- attention, norms


def test_cls_attention_maps_take_row_zero_of_the_last_layer():
    generator = torch.Generator().manual_seed(2)
    layers = [torch.randn(2, 3, 17, 17, generator=generator).softmax(-1) for _ in range(4)]
    maps = cls_attention_maps(layers)
    assert maps.shape == (2, 3, 4, 4)
    # image 1, head 2, patch 6 = grid row 1, column 2
    assert maps[1, 2, 1, 2] == layers[-1][1, 2, 0, 1 + 6]
    assert not torch.equal(maps, layers[-1][:, :, 1:, 0].reshape(2, 3, 4, 4))  # not column 0
    torch.testing.assert_close(cls_attention_maps(layers, layer=1),
                               layers[1][:, :, 0, 1:].reshape(2, 3, 4, 4))
    torch.testing.assert_close(cls_attention_maps(layers[-1]), maps)
    # the map leaves out the class token's attention to itself
    torch.testing.assert_close(maps.sum((-2, -1)), 1 - layers[-1][:, :, 0, 0])


def test_cls_attention_maps_reject_bad_input():
    with pytest.raises(ValueError, match="empty"):
        cls_attention_maps([])
    with pytest.raises(ValueError, match="layer must be in"):
        cls_attention_maps([torch.rand(1, 2, 5, 5)], layer=1)
    with pytest.raises(ValueError, match=r"\(B, heads, N, N\)"):
        cls_attention_maps(torch.rand(2, 5, 5))
    with pytest.raises(ValueError, match="square g x g grid"):
        cls_attention_maps(torch.rand(1, 2, 11, 11))


def test_token_norm_map_is_the_norm_of_each_patch_token():
    tokens = torch.randn(2, 1 + 9, 8)  # (B, N, D)
    norms = token_norm_map(tokens)
    assert norms.shape == (2, 3, 3)
    assert norms[1, 2, 0] == pytest.approx(float(tokens[1, 1 + 6].norm()))
    torch.testing.assert_close(token_norm_map(tokens[:, 1:], num_prefix_tokens=0), norms)
    with pytest.raises(ValueError, match=r"\(B, N, D\)"):
        token_norm_map(tokens[0])
    with pytest.raises(ValueError, match="square"):
        token_norm_map(torch.randn(1, 9, 4))


# --------------------------------------------------------------------------- PCA


def centre_blob_features(side: int = 8, dim: int = 16, seed: int = 0) -> tuple[torch.Tensor,
                                                                                torch.Tensor]:
    """Patch features where a centre square (the 'object') differs from the rest."""
    generator = torch.Generator().manual_seed(seed)
    obj = torch.zeros(side, side, dtype=torch.bool)
    obj[2:6, 2:5] = True  # (g, g), touching no border
    direction = torch.randn(dim, generator=generator)  # (D,)
    features = torch.randn(side * side, dim, generator=generator) * 0.1  # (P, D)
    features += torch.where(obj.flatten()[:, None], 3.0, -1.0) * direction + 5.0
    return features, obj


def test_patch_pca_matches_scikit_learn_up_to_sign():
    from sklearn.decomposition import PCA

    features = torch.randn(2, 49, 12, dtype=torch.float64) @ torch.randn(12, 12,
                                                                         dtype=torch.float64)
    pca = patch_pca(features, n_components=3)
    reference = PCA(n_components=3).fit(features.reshape(-1, 12).numpy())
    ours = pca.scores.reshape(-1, 3).double().numpy()  # (B·P, 3)
    theirs = reference.transform(features.reshape(-1, 12).numpy())
    signs = np.sign((ours * theirs).sum(0))
    np.testing.assert_allclose(ours, theirs * signs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(pca.explained.numpy(), reference.explained_variance_ratio_,
                               rtol=1e-5)
    assert pca.scores.shape == (2, 49, 3) and pca.components.shape == (3, 12) and pca.grid == 7
    torch.testing.assert_close(pca.components @ pca.components.T, torch.eye(3), atol=1e-5,
                               rtol=0)


def test_first_component_sign_puts_the_border_below_zero():
    features, obj = centre_blob_features()
    for flipped in (features, -features + 10):  # the SVD's own sign must not matter
        pca = patch_pca(flipped)
        first = pca.scores[0, :, 0].reshape(8, 8)
        border = torch.ones(8, 8, dtype=torch.bool)
        border[1:-1, 1:-1] = False
        assert first[border].mean() < 0
        assert torch.equal(pca_foreground_mask(flipped), obj)


def test_pca_rgb_is_in_unit_range_and_spans_it():
    features, _ = centre_blob_features()
    rgb = pca_rgb(features)
    assert rgb.shape == (8, 8, 3)
    assert rgb.min() >= 0 and rgb.max() <= 1
    torch.testing.assert_close(rgb.amin(dim=(0, 1)), torch.zeros(3))
    torch.testing.assert_close(rgb.amax(dim=(0, 1)), torch.ones(3))
    batch = torch.stack([features, centre_blob_features(seed=1)[0]])
    assert pca_rgb(batch).shape == (2, 8, 8, 3)
    assert pca_foreground_mask(batch).shape == (2, 8, 8)


def test_pca_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(B, P, D\) or \(P, D\)"):
        patch_pca(torch.randn(4))
    with pytest.raises(ValueError, match="square"):
        patch_pca(torch.randn(10, 4))
    with pytest.raises(ValueError, match="n_components"):
        patch_pca(torch.randn(9, 4), n_components=5)
    with pytest.raises(ValueError, match="NaN"):
        patch_pca(torch.full((9, 4), float("nan")))


# --------------------------------------------------------------------------- one pass


@pytest.mark.api
def test_image_maps_on_a_timm_vit(tiny_random_timm, photos):
    from helpers.maps.capture import capture_attention

    names = ["chelsea", "coffee"]
    maps = image_maps(tiny_random_timm, [photos[n] for n in names])
    model = tiny_random_timm.model
    heads, dim = model.blocks[-1].attn.num_heads, model.embed_dim
    assert maps.photos.shape == (2, 224, 224, 3)
    assert 0 <= maps.photos.min() <= maps.photos.max() <= 1
    assert maps.tokens.shape == (2, 197, dim)
    assert maps.attention.shape == (2, heads, 14, 14)
    assert maps.norms.shape == maps.foreground.shape == (2, 14, 14)
    assert maps.rgb.shape == (2, 14, 14, 3) and maps.explained.shape == (2, 3)
    with capture_attention(tiny_random_timm) as attentions, torch.inference_mode():
        tokens = model.forward_features(tiny_random_timm.batch([photos[n] for n in names]))
    # image_maps may batch and switch kernels differently from this direct forward pass
    assert_same_maths(maps.tokens, tokens, ulps=DEEP)
    assert_same_maths(maps.attention, attentions[-1][:, :, 0, 1:].reshape(2, heads, 14, 14),
                      ulps=DEEP)
    assert_same_maths(maps.norms, token_norm_map(tokens), ulps=DEEP)
    assert_same_maths(maps.rgb[1], pca_rgb(tokens[1, 1:]), ulps=DEEP)  # one PCA per photo
    assert torch.equal(maps.foreground[0], pca_foreground_mask(tokens[0, 1:]))


@pytest.mark.api
@pytest.mark.real_weights
def test_dino_name_loads_the_headless_stand_in_offline(stand_in_dir, monkeypatch, photos):
    from helpers.models import load
    from helpers.setup.config import WEIGHTS_ENV
    from helpers.setup.network import check_network

    monkeypatch.setenv(WEIGHTS_ENV, str(stand_in_dir))
    check_network.cache_clear()
    dino = load("timm", "vit_base_patch16_224.dino", device="cpu")
    assert dino.kind == "stand-in" and dino.labels == []
    assert "need the network" in dino.source
    maps = image_maps(dino, [photos["chelsea"]])
    assert maps.tokens.shape == (1, 197, dino.model.embed_dim)
    masks = mass_threshold_mask(maps.attention.flatten(2), 0.6)  # (1, heads, P)
    assert_minimal_and_covering(maps.attention.flatten(2).numpy(), masks.numpy(), 0.6)
