"""Head ablation (helpers.maps.ablation): switching a head off equals zeroing its columns of the
output projection, per image; nothing stays hooked afterwards (logits bit-identical); the
importance ranking and the head sets have the right counts; unsupported models are refused."""

from __future__ import annotations

import copy

import pytest
import torch

from helpers.maps.ablation import (
    ablate_heads,
    ablation_scores,
    attention_blocks,
    head_importance,
    random_heads,
    top_heads,
)
from helpers.maps.attribution import own_class_gradients

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def pixels(tiny_random_timm, photos):
    return tiny_random_timm.batch([photos["chelsea"], photos["coffee"], photos["rocket"]])


def _hooks(model) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())


def test_a_switched_off_head_equals_zeroed_projection_columns(tiny_random_timm, pixels):
    model = tiny_random_timm.model
    reference = tiny_random_timm.logits(pixels)
    heads = torch.zeros(3, 12, 3, dtype=torch.bool)
    heads[0, 4, 1] = True  # image 0: layer 4, head 1
    heads[2, 11, 0] = heads[2, 0, 2] = True  # image 2: two heads
    with ablate_heads(tiny_random_timm, heads), torch.no_grad():
        ablated = model(pixels)
    assert torch.equal(ablated[1], reference[1])  # image 1 switched nothing off
    assert not torch.allclose(ablated[0], reference[0])
    head_dim = 192 // 3
    with torch.no_grad():
        for image in (0, 2):  # the same heads switched off by zeroing their weight columns
            single = copy.deepcopy(model)
            for layer, head in heads[image].nonzero().tolist():
                single.blocks[layer].attn.proj.weight[:, head * head_dim:(head + 1) * head_dim] = 0
            assert torch.allclose(single(pixels[image:image + 1])[0], ablated[image], atol=1e-5)
    assert torch.equal(tiny_random_timm.logits(pixels), reference)  # nothing left behind
    assert _hooks(model) == 0


def test_hooks_come_off_after_an_error(tiny_random_timm, pixels):
    with pytest.raises(ValueError, match="heads holds 3 images but the forward pass has 1"):
        with ablate_heads(tiny_random_timm, torch.zeros(3, 12, 3, dtype=torch.bool)):
            tiny_random_timm.model(pixels[:1])
    assert _hooks(tiny_random_timm.model) == 0


def test_scores_importance_and_head_sets(tiny_random_timm, pixels):
    classes = tiny_random_timm.logits(pixels).argmax(-1)
    attentions, gradients, _ = own_class_gradients(tiny_random_timm, pixels, classes)
    importance = head_importance(attentions, gradients)  # (3, 12, 3)
    assert importance.shape == (3, 12, 3) and (importance >= 0).all()
    manual = (gradients[5, 1, 2] * attentions[5, 1, 2]).clamp_min(0).sum()
    assert torch.allclose(importance[1, 5, 2], manual)
    ranked = top_heads(importance, 4)
    assert ranked.sum(dim=(1, 2)).tolist() == [4, 4, 4]
    assert importance[ranked].min() >= importance[~ranked].reshape(3, -1).max(-1).values.min()
    drawn = random_heads(3, 12, 3, 5, seed=1)
    assert drawn.sum(dim=(1, 2)).tolist() == [5, 5, 5] and torch.equal(
        drawn, random_heads(3, 12, 3, 5, seed=1))
    sets = torch.stack([torch.zeros_like(ranked), ranked, drawn], dim=1)  # (3, 3, 12, 3)
    scores = ablation_scores(tiny_random_timm, pixels, classes, sets, batch_size=4)
    probs = tiny_random_timm.logits(pixels).softmax(-1)[torch.arange(3), classes]
    assert scores.shape == (3, 3) and torch.allclose(scores[:, 0], probs, atol=1e-5)
    with ablate_heads(tiny_random_timm, ranked), torch.no_grad():
        by_hand = tiny_random_timm.model(pixels).softmax(-1)[torch.arange(3), classes]
    assert torch.allclose(scores[:, 1], by_hand, atol=1e-5)


def test_clear_errors(tiny_random_timm, pixels):
    import torchvision

    small = torchvision.models.VisionTransformer(image_size=32, patch_size=16, num_layers=1,
                                                 num_heads=2, hidden_dim=8, mlp_dim=8)
    with pytest.raises(ValueError, match="written for timm's VisionTransformer; got a "
                                         "torchvision model"):
        attention_blocks(small)
    with pytest.raises(ValueError, match=r"heads must be booleans of shape \(B, 12, 3\)"):
        with ablate_heads(tiny_random_timm, torch.zeros(12, 4, dtype=torch.bool)):
            pass
    with pytest.raises(ValueError, match=r"head_sets must have shape \(3, K, 12, 3\)"):
        ablation_scores(tiny_random_timm, pixels, [0, 1, 2], torch.zeros(3, 12, 3).bool())
    with pytest.raises(ValueError, match="k must be an integer"):
        top_heads(torch.rand(1, 12, 3), 37)
    with pytest.raises(ValueError, match=r"\(L, B, H, N, N\)"):
        head_importance(torch.rand(2, 3), torch.rand(2, 3))
