"""helpers.maps.gradients: gradients pair with their layer (finite differences), agree across
the three libraries, leave no hooks behind; the class maps follow their class on a real photo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from tiny_vits import (
    CLASSES,
    DEPTH,
    HEADS,
    IMAGE_SIZE,
    LIBRARIES,
    TOKENS,
    hook_state,
    tiny_timm,
    tiny_trio,
)

from helpers.maps.gradients import (
    attention_gradients,
    chefer_relevance,
    grad_weighted_attention,
    gradient_rollout,
    relevance_propagation,
    rollout_fused,
)
from helpers.maps.rollout import attention_rollout
from helpers.setup.config import OFFLINE_ENV, WEIGHTS_ENV, flag
from helpers.setup.network import check_network
from helpers.tolerances import DEEP, assert_same_maths

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


def images(batch: int = 2, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator, dtype=dtype)


def test_shapes_and_logits():
    model = tiny_timm()
    x = images()
    found = attention_gradients(model, x, [1, 3])
    assert found.attentions.shape == (DEPTH, 2, HEADS, TOKENS, TOKENS)
    assert found.gradients.shape == (2, DEPTH, 2, HEADS, TOKENS, TOKENS)
    assert found.class_indices == (1, 3)
    with torch.no_grad():
        assert_same_maths(found.logits, model(x), ulps=DEEP)  # with autograd vs without
    assert not found.gradients.requires_grad and found.gradients.abs().sum() > 0


def test_each_gradient_belongs_to_its_own_layer():
    """Finite differences: nudge layer l's attention along a direction d (through a hook that
    edits the probabilities); the class score must change by <gradient[l], d> to first order.
    A list paired in the wrong order (vit-explain's issue #6) fails this."""
    model = tiny_timm(seed=1).double()
    x = images(batch=1, dtype=torch.float64)
    target = 2
    found = attention_gradients(model, x, [target])
    generator = torch.Generator().manual_seed(7)
    eps = 1e-6
    for layer in range(DEPTH):
        direction = torch.randn(1, HEADS, TOKENS, TOKENS, generator=generator,
                                dtype=torch.float64)
        scores = []
        for sign in (1.0, -1.0):
            drop = model.blocks[layer].attn.attn_drop
            handle = drop.register_forward_hook(
                lambda _m, _i, out, s=sign, d=direction: out + s * eps * d)
            try:
                with torch.no_grad():
                    scores.append(float(model(x)[0, target]))
            finally:
                handle.remove()
        numeric = (scores[0] - scores[1]) / (2 * eps)
        analytic = float((found.gradients[0, layer] * direction).sum())
        assert abs(numeric - analytic) <= 1e-5 * max(1.0, abs(analytic)), layer


def test_three_libraries_give_the_same_gradients_and_leave_no_hooks():
    trio = tiny_trio(seed=2)
    x = images(seed=3)
    results = {}
    for library in LIBRARIES:
        model = trio[library]
        before = hook_state(model)
        results[library] = attention_gradients(model, x, [0, 4])
        assert hook_state(model) == before, library
        assert all(p.grad is None for p in model.parameters()), library
        assert not model.training
    for library in ("torchvision", "transformers"):
        # three libraries' kernels, through every block and back
        assert_same_maths(results[library].attentions, results["timm"].attentions, ulps=DEEP,
                          msg=library)
        assert_same_maths(results[library].gradients, results["timm"].gradients, ulps=DEEP,
                          msg=library)


def test_batch_equals_one_image_at_a_time():
    model = tiny_timm(seed=4)
    x = images(batch=3, seed=5)
    together = attention_gradients(model, x, [1])
    for b in range(3):
        alone = attention_gradients(model, x[b:b + 1], [1])
        # a batch vs one image: matmuls blocked differently, through every block and back
        assert_same_maths(together.gradients[:, :, b:b + 1], alone.gradients, ulps=DEEP)


def test_weighting_clamps_each_head_before_the_mean():
    attention = torch.tensor([[[0.5, 0.5], [1.0, 0.0]], [[0.2, 0.8], [0.5, 0.5]]])  # (2, 2, 2)
    gradient = torch.tensor([[[2.0, -1.0], [1.0, 3.0]], [[-4.0, 1.0], [1.0, -2.0]]])
    want = torch.tensor([[(1.0 + 0.0) / 2, (0.0 + 0.8) / 2], [(1.0 + 0.5) / 2, 0.0]])
    torch.testing.assert_close(grad_weighted_attention(attention, gradient), want)
    # averaging first and clamping afterwards (vit-explain's order) gives another map
    vit_explain = (attention * gradient).mean(0).clamp_min(0)
    assert not torch.allclose(vit_explain, want)
    torch.testing.assert_close(grad_weighted_attention(attention, gradient,
                                                       clamp_per_head=False), vit_explain)
    assert grad_weighted_attention(attention, gradient, "max")[1, 1] == 0.0
    with pytest.raises(ValueError, match="same shape"):
        grad_weighted_attention(attention, gradient[:1])
    with pytest.raises(ValueError, match="head_fusion"):
        grad_weighted_attention(attention, gradient, "median")


def test_unit_gradients_give_plain_rollout():
    generator = torch.Generator().manual_seed(8)
    attentions = torch.randn(4, 2, 3, 9, 9, generator=generator).softmax(-1)  # (L, B, h, N, N)
    weighted = grad_weighted_attention(attentions, torch.ones_like(attentions))  # (L, B, N, N)
    for ratio in (0.0, 0.6):
        torch.testing.assert_close(rollout_fused(weighted, ratio),
                                   attention_rollout(list(attentions), "mean", ratio))
    with pytest.raises(ValueError, match="fused"):
        rollout_fused(attentions)


def test_relevance_propagation_is_a_product_of_identity_plus_maps():
    generator = torch.Generator().manual_seed(9)
    fused = torch.rand(5, 2, 7, 7, generator=generator)  # (L, B, N, N)
    want = torch.eye(7).expand(2, 7, 7)
    for layer in fused:  # R_l = (I + Ā_l) R_(l-1): later layers on the left
        want = (torch.eye(7) + layer) @ want
    torch.testing.assert_close(relevance_propagation(fused), want)
    torch.testing.assert_close(relevance_propagation(torch.zeros(3, 1, 4, 4))[0], torch.eye(4))


def test_bad_arguments():
    model = tiny_timm()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        attention_gradients(model, torch.zeros(3, IMAGE_SIZE, IMAGE_SIZE), [0])
    with pytest.raises(ValueError, match="at least one class"):
        attention_gradients(model, images(), [])
    with pytest.raises(ValueError, match=rf"\[0, {CLASSES}\)"):
        attention_gradients(model, images(), [CLASSES])
    before = hook_state(model)
    with pytest.raises(ValueError):
        attention_gradients(model, images(), [-1])
    assert hook_state(model) == before


# --------------------------------------------------------------------------- real weights

#: The patches (rows, columns of the 14 x 14 grid) of each animal in dog_and_cat.png (224 x 224):
#: the bulldog stands at the top, the cat lies at the bottom right.
DOG_REGION = (slice(0, 7), slice(4, 11))
CAT_REGION = (slice(7, 14), slice(6, 14))
DOMESTIC_CATS = range(281, 286)  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat
DOGS = range(151, 269)


@pytest.fixture(scope="module")
def dog_and_cat(stand_in_dir: Path):
    path = Path(os.environ[WEIGHTS_ENV]).expanduser().parent / "images" / "dog_and_cat.png"
    if not path.is_file():
        if flag("CI"):
            pytest.fail(f"{path} is missing, but CI is set: CI must run this test.",
                        pytrace=False)
        pytest.skip(f"{path} not found: the dog-and-cat test is skipped")
    from helpers.data.images import load_image
    from helpers.models import load

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WEIGHTS_ENV, str(stand_in_dir))
        mp.setenv(OFFLINE_ENV, "1")
        check_network.cache_clear()
        try:
            loaded = load("timm", device="cpu")
        finally:
            check_network.cache_clear()
    assert loaded.kind == "stand-in"
    return loaded, load_image(path)


def region_share(patch_map: torch.Tensor, region: tuple[slice, slice]) -> float:
    grid = patch_map.reshape(14, 14)
    return float(grid[region].sum() / grid.sum())


@pytest.mark.real_weights
def test_cat_and_dog_maps_light_up_their_own_animal(dog_and_cat):
    loaded, photo = dog_and_cat
    probs = loaded.logits(loaded.batch([photo])).softmax(-1)[0]
    top = probs.topk(10).indices.tolist()
    dog = top[0]
    cat = next(i for i in top if i in DOMESTIC_CATS)  # the model's own best cat class
    assert dog in DOGS, loaded.labels[dog]
    methods = {
        "gradient rollout": gradient_rollout,
        "gradient rollout, discard 0.9": lambda *a: gradient_rollout(*a, discard_ratio=0.9),
        "Chefer et al.": chefer_relevance,
    }
    for name, method in methods.items():
        cat_map = method(loaded, photo, cat)
        dog_map = method(loaded, photo, dog)
        assert cat_map.shape == dog_map.shape == (196,)
        assert region_share(cat_map, CAT_REGION) > region_share(dog_map, CAT_REGION) + 0.05, name
        assert region_share(dog_map, DOG_REGION) > region_share(cat_map, DOG_REGION) + 0.05, name
