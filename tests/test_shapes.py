"""Every numeric helper answers a wrongly shaped tensor with a ValueError saying what it expected.

A property test: hypothesis feeds each helper tensors of arbitrary shape (0 to 5
dimensions, sizes 0 to 6, zero-size included). A call either succeeds or raises a
ValueError whose message names what was expected; an IndexError, a RuntimeError from
deep inside torch, or a ValueError without that explanation fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.data.preprocessing import pixels_to_image
from helpers.explorers.attention import attention_maps_array
from helpers.figures.maps import overlay_alpha
from helpers.figures.vit import mosaic
from helpers.keras import training
from helpers.maps import attention_distance, dino, rollout
from helpers.maps import gradients as gradient_rollout
from helpers.models import by_hand
from helpers.models import learned as learned_embeddings
from helpers.models.parts import Linear, Norm

#: A clear message says what shape was expected, e.g. "expected (B, heads, N, N)".
EXPLAINS = re.compile(r"expected|must|should|needs?|got|\bnot an?\b|do not|does not|means", re.I)

NORM = Norm(weight=torch.ones(4), bias=torch.zeros(4), eps=1e-6)
LINEAR = Linear(weight=torch.ones(3, 4), bias=torch.zeros(3))

HELPERS: dict[str, Callable[[torch.Tensor], object]] = {
    "rollout.fuse_heads": rollout.fuse_heads,
    "rollout.rollout_matrix": rollout.rollout_matrix,
    "rollout.attention_rollout": rollout.attention_rollout,
    "attention_distance.mean_attention_distance":
        lambda x: attention_distance.mean_attention_distance(x, 2, 16),
    "dino.mass_threshold_mask": dino.mass_threshold_mask,
    "dino.cls_attention_maps": dino.cls_attention_maps,
    "dino.token_norm_map": dino.token_norm_map,
    "dino.patch_pca": dino.patch_pca,
    "dino.pca_rgb": dino.pca_rgb,
    "dino.pca_foreground_mask": dino.pca_foreground_mask,
    "gradient_rollout.grad_weighted_attention":
        lambda x: gradient_rollout.grad_weighted_attention(x, x),
    "gradient_rollout.rollout_fused": gradient_rollout.rollout_fused,
    "gradient_rollout.relevance_propagation": gradient_rollout.relevance_propagation,
    "learned_embeddings.filter_components": lambda x: learned_embeddings.filter_components(x, 2),
    "learned_embeddings.position_similarity": learned_embeddings.position_similarity,
    "by_hand.patchify": lambda x: by_hand.patchify(x, 2),
    "by_hand.split_heads": lambda x: by_hand.split_heads(x, 2),
    "by_hand.merge_heads": by_hand.merge_heads,
    "by_hand.attention_probs": lambda x: by_hand.attention_probs(x, x),
    "by_hand.layer_norm": lambda x: by_hand.layer_norm(x, NORM),
    "by_hand.linear": lambda x: by_hand.linear(x, LINEAR),
    "explorer_attention.attention_maps_array": attention_maps_array,
    "rollout.discard_thresholds": lambda x: rollout.discard_thresholds(x.numpy()),
    "rollout.cls_rollout": lambda x: rollout.cls_rollout(x.numpy()),
    "vit_figures.pixels_to_image": pixels_to_image,
    "vit_figures.mosaic": lambda x: mosaic(x.numpy()),
    "vit_figures.overlay_alpha": lambda x: overlay_alpha(x.numpy()),
    "training.scores": lambda x: training.scores(x.numpy(), np.zeros(len(x) if x.ndim else 0,
                                                                     dtype=np.int64)),
}

shapes = st.lists(st.integers(0, 6), min_size=0, max_size=5)


@pytest.mark.parametrize("name", sorted(HELPERS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_wrong_shapes_get_a_clear_value_error(name: str, shape: list[int], seed: int) -> None:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(seed))  # values in [0, 1)
    try:
        HELPERS[name](x)
    except ValueError as err:
        assert EXPLAINS.search(str(err)), f"{name}{tuple(shape)}: unclear error {err!r}"
    except Exception as err:  # noqa: BLE001 - anything else is the defect under test
        pytest.fail(f"{name}{tuple(shape)} raised {type(err).__name__}: {err}")


def _not_a_vit(kind: str, width: int) -> object:
    """Models capture_attention must refuse: no attention layer it knows."""
    return {
        "linear": lambda: torch.nn.Linear(width, width),
        "mlp": lambda: torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.GELU()),
        "conv": lambda: torch.nn.Conv2d(3, width, 3),
        "lstm": lambda: torch.nn.LSTM(width, width),
        "embedding": lambda: torch.nn.Embedding(10, width),
        "not a module": lambda: {"weights": torch.zeros(width)},
    }[kind]()


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(["linear", "mlp", "conv", "lstm", "embedding", "not a module"]),
       width=st.integers(1, 8))
def test_capture_attention_refuses_models_it_cannot_read(kind: str, width: int) -> None:
    """A module without attention: ValueError naming what is supported; not a module: TypeError."""
    from helpers.maps.capture import capture_attention

    error, message = ((TypeError, "must be an nn.Module") if kind == "not a module"
                      else (ValueError, "found no attention layer.*It supports"))
    with pytest.raises(error, match=message):
        with capture_attention(_not_a_vit(kind, width)):
            pass
