"""Head ablation (helpers.evaluation.ablation): switching a head off equals zeroing its columns
of the output projection, per image; nothing stays hooked afterwards (logits bit-identical); the
signed Σ A ⊙ ∇A of a head equals the gradient of the logit with respect to a gate on it, and a
finite difference of that gate at 1; mean ablation replaces a head by its mean output; random
heads matched by layer; unsupported models are refused."""

from __future__ import annotations

import copy

import pytest
import torch

from helpers.evaluation.ablation import (
    ablate_heads,
    ablation_scores,
    attention_blocks,
    gate_gradients,
    head_gates,
    head_importance,
    head_means,
    random_heads,
    random_heads_like,
    top_heads,
)
from helpers.maps.attribution import own_class_gradients
from helpers.tolerances import DEEP, assert_same_maths

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
            # one image against a batch of three: other blocking, other float32 rounding
            assert_same_maths(single(pixels[image:image + 1])[0], ablated[image], ulps=DEEP)
    assert torch.equal(tiny_random_timm.logits(pixels), reference)  # nothing left behind
    assert _hooks(model) == 0


def test_hooks_come_off_after_an_error(tiny_random_timm, pixels):
    with pytest.raises(ValueError, match="gates hold 3 images but the forward pass has 1"):
        with ablate_heads(tiny_random_timm, torch.zeros(3, 12, 3, dtype=torch.bool)):
            tiny_random_timm.model(pixels[:1])
    assert _hooks(tiny_random_timm.model) == 0


def test_the_head_gate_gradient_is_signed_attention_times_gradient_and_a_finite_difference():
    from tiny_vits import DEPTH, HEADS, IMAGE_SIZE, tiny_timm

    model = tiny_timm(seed=2).double()  # float64: the finite difference is then exact enough
    pixels = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(3))
    classes = torch.tensor([1, 4])
    attentions, gradients, _ = own_class_gradients(model, pixels, classes)
    importance = head_importance(attentions, gradients)  # (2, L, H)
    by_autograd = gate_gradients(model, pixels, classes)
    scale = float(importance.abs().max())
    assert scale > 0 and torch.allclose(by_autograd, importance, atol=1e-6 * scale, rtol=0)
    step = 1e-5
    finite = torch.zeros(2, DEPTH, HEADS, dtype=torch.float64)
    for layer in range(DEPTH):
        for head in range(HEADS):
            ends = []
            for sign in (1, -1):
                gates = torch.ones(2, DEPTH, HEADS, dtype=torch.float64)
                gates[:, layer, head] += sign * step
                with head_gates(model, gates), torch.no_grad():
                    ends.append(model(pixels)[torch.arange(2), classes])
            finite[:, layer, head] = (ends[0] - ends[1]) / (2 * step)
    # central difference: error O(step²) of the logit's curvature; importance is float32
    assert torch.allclose(finite.float(), importance, atol=1e-5 * scale, rtol=0)
    assert (importance < 0).any() and (importance > 0).any()  # signed, not clamped


def test_scores_importance_and_head_sets(tiny_random_timm, pixels):
    classes = tiny_random_timm.logits(pixels).argmax(-1)
    attentions, gradients, _ = own_class_gradients(tiny_random_timm, pixels, classes)
    importance = head_importance(attentions, gradients)  # (3, 12, 3)
    assert importance.shape == (3, 12, 3)
    manual = (gradients[5, 1, 2] * attentions[5, 1, 2]).sum()
    assert torch.allclose(importance[1, 5, 2], manual, atol=1e-6 * float(manual.abs()) + 1e-9)
    ranked = top_heads(importance, 4)
    assert ranked.sum(dim=(1, 2)).tolist() == [4, 4, 4]
    assert importance[ranked].min() >= importance[~ranked].reshape(3, -1).max(-1).values.min()
    drawn = random_heads(3, 12, 3, 5, seed=1)
    assert drawn.sum(dim=(1, 2)).tolist() == [5, 5, 5] and torch.equal(
        drawn, random_heads(3, 12, 3, 5, seed=1))
    matched = random_heads_like(ranked, seed=2)
    assert torch.equal(matched.sum(-1), ranked.sum(-1))  # as many per layer, other heads
    assert not torch.equal(matched, ranked)
    sets = torch.stack([torch.zeros_like(ranked), ranked, drawn], dim=1)  # (3, 3, 12, 3)
    scores = ablation_scores(tiny_random_timm, pixels, classes, sets, batch_size=4)
    logits = tiny_random_timm.logits(pixels)
    probs = logits.softmax(-1)[torch.arange(3), classes]
    assert scores.probabilities.shape == scores.logits.shape == (3, 3)
    # batches of 4 against one batch of 3: the same maths, rounded differently
    assert_same_maths(scores.logits[:, 0], logits[torch.arange(3), classes], ulps=DEEP)
    scale = float(logits.abs().max())  # probabilities carry the logits' rounding
    assert_same_maths(scores.probabilities[:, 0], probs, ulps=DEEP, scale=scale)
    with ablate_heads(tiny_random_timm, ranked), torch.no_grad():
        by_hand = tiny_random_timm.model(pixels).softmax(-1)[torch.arange(3), classes]
    assert_same_maths(scores.probabilities[:, 1], by_hand, ulps=DEEP, scale=scale)


def test_mean_ablation_replaces_a_head_by_its_mean_output(tiny_random_timm, pixels):
    model = tiny_random_timm.model
    means = head_means(tiny_random_timm, pixels, batch_size=2)  # (12, 197, 192)
    assert means.shape == (12, 197, 192)
    seen = {}
    handle = model.blocks[3].attn.proj.register_forward_hook(  # sees the input as changed
        lambda module, args, out: seen.update(x=args[0].detach().clone()))
    try:
        heads = torch.zeros(12, 3, dtype=torch.bool)
        heads[3, 1] = True
        with torch.no_grad():
            model(pixels)
            plain = seen["x"]
            with ablate_heads(tiny_random_timm, heads, means):
                model(pixels)
    finally:
        handle.remove()
    assert_same_maths(plain.mean(0), means[3], ulps=DEEP)  # batches of 2 against one of 3
    assert torch.allclose(seen["x"][:, :, 64:128], means[3, :, 64:128].expand(3, -1, -1))
    assert torch.equal(seen["x"][:, :, :64], plain[:, :, :64])
    assert _hooks(model) == 0


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
    with pytest.raises(ValueError, match=r"gates must be floats of shape \(B, 12, 3\)"):
        with head_gates(tiny_random_timm, torch.ones(12, 3, dtype=torch.bool)):
            pass
    with pytest.raises(ValueError, match="means must have shape"):
        with ablate_heads(tiny_random_timm, torch.zeros(12, 3, dtype=torch.bool),
                          torch.zeros(3, 4)):
            pass
