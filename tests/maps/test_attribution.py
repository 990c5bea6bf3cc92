"""The explanation methods of notebook 08 (helpers.maps.attribution): each one's map equals a
computation by hand, Grad-CAM on the last block fails as the notebook says (no gradient reaches
its patch tokens), and no call leaves the model changed: logits bit-identical, no hooks, no
gradients, requires_grad as it was."""

from __future__ import annotations

import pytest
import torch

from helpers.maps.attribution import (
    METHODS,
    edge_maps,
    explanation_maps,
    grad_cam_maps,
    last_layer_attention,
    occlusion_maps,
    own_class_gradients,
    random_maps,
)
from helpers.maps.capture import capture_attention
from helpers.maps.gradients import attention_gradients
from helpers.tolerances import DEEP, assert_same_maths

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def pixels(tiny_random_timm, photos):
    return tiny_random_timm.batch([photos["chelsea"], photos["astronaut"]])


def _untouched(model) -> bool:
    hooks = sum(len(m._forward_pre_hooks) + len(m._forward_hooks) + len(m._backward_hooks)
                for m in model.modules())
    return hooks == 0 and all(p.grad is None and p.requires_grad for p in model.parameters())


def test_every_method_gives_one_map_per_image_and_leaves_the_model_alone(tiny_random_timm,
                                                                        pixels):
    reference = tiny_random_timm.logits(pixels)
    found = explanation_maps(tiny_random_timm, pixels, occlusion_window=112, batch_size=1)
    assert list(found.maps) == list(METHODS)
    for method, value in found.maps.items():
        assert value.shape == (2, 196) and torch.isfinite(value).all(), method
        assert found.seconds[method] > 0 and found.seconds_per_image(method) > 0
    assert found.classes.tolist() == reference.argmax(-1).tolist()
    assert_same_maths(found.probabilities, reference.softmax(-1).max(-1).values, ulps=DEEP,
                      scale=float(reference.abs().max()))  # batch 1 against batch 2
    assert torch.equal(tiny_random_timm.logits(pixels), reference)
    assert _untouched(tiny_random_timm.model)
    again = explanation_maps(tiny_random_timm, pixels, methods=["random", "rollout (mean)"],
                             batch_size=2)
    assert torch.equal(again.maps["random"], random_maps(2, 196, seed=0))
    assert torch.allclose(again.maps["rollout (mean)"], found.maps["rollout (mean)"], atol=1e-6)
    with pytest.raises(ValueError, match="unknown"):
        explanation_maps(tiny_random_timm, pixels, methods=["saliency"])


def test_gradients_of_each_images_own_class(tiny_random_timm, pixels):
    classes = torch.tensor([3, 900])
    attentions, gradients, _ = own_class_gradients(tiny_random_timm, pixels, classes)
    for b, c in enumerate(classes.tolist()):
        one = attention_gradients(tiny_random_timm, pixels[b:b + 1], [c])
        # the batch against one image: the same maths, rounded differently (backward: DEEP)
        assert_same_maths(gradients[:, b], one.gradients[0, :, 0], ulps=DEEP)
        assert_same_maths(attentions[:, b], one.attentions[:, 0], ulps=DEEP)
    assert _untouched(tiny_random_timm.model)


def test_last_layer_attention_and_edges(tiny_random_timm, pixels):
    with torch.no_grad(), capture_attention(tiny_random_timm) as attentions:
        tiny_random_timm.model(pixels)
    want = attentions[-1][:, :, 0, 1:].mean(dim=1)  # (B, 196)
    assert torch.equal(last_layer_attention(attentions), want)
    flat = torch.zeros(1, 3, 32, 32)
    flat[..., 16:] = 1.0  # one vertical edge, between patch columns 0 and 1
    edges = edge_maps(flat, 16)
    assert edges.shape == (1, 4) and edges[0, 0] > 0 and edges[0, 1] > 0
    assert edge_maps(torch.ones(1, 3, 32, 32), 16).abs().max() < 1e-6  # nothing to see


def test_grad_cam_by_hand_and_its_failure_on_the_last_block(tiny_random_timm, pixels):
    model = tiny_random_timm.model
    classes = tiny_random_timm.logits(pixels).argmax(-1)
    failed = grad_cam_maps(tiny_random_timm, pixels, classes, model.blocks[-1])
    assert torch.equal(failed, torch.zeros(2, 196))  # only the class token feeds the head
    cam = grad_cam_maps(tiny_random_timm, pixels, classes)
    kept = {}
    handle = model.blocks[-1].norm1.register_forward_hook(
        lambda module, args, out: kept.update(a=out.retain_grad() or out))
    try:
        x = pixels.clone().requires_grad_(True)
        model(x)[torch.arange(2), classes].sum().backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    tokens, grads = kept["a"][:, 1:].detach(), kept["a"].grad[:, 1:]  # (B, 196, D)
    weights = grads.mean(dim=1, keepdim=True)  # (B, 1, D): each channel's mean gradient
    want = (weights * tokens).sum(-1).clamp_min(0)  # (B, 196)
    assert torch.allclose(cam, want, rtol=1e-4, atol=1e-6) and cam.abs().max() > 0
    assert _untouched(model)
    import torchvision

    small = torchvision.models.VisionTransformer(image_size=32, patch_size=16, num_layers=1,
                                                 num_heads=2, hidden_dim=8, mlp_dim=8)
    with pytest.raises(ValueError, match=r"timm ViTs with one class token"):
        grad_cam_maps(small, torch.rand(1, 3, 32, 32), [0])


def test_occlusion_by_hand(tiny_random_timm, pixels):
    classes = tiny_random_timm.logits(pixels).argmax(-1)
    drops = occlusion_maps(tiny_random_timm, pixels, classes, window=112)  # 4 windows
    probs = tiny_random_timm.logits(pixels).softmax(-1)[torch.arange(2), classes]
    for row in range(2):
        for col in range(2):
            grey = pixels.clone()
            grey[..., row * 112:(row + 1) * 112, col * 112:(col + 1) * 112] = 0.0
            lost = probs - tiny_random_timm.logits(grey).softmax(-1)[torch.arange(2), classes]
            patch = (row * 7) * 14 + col * 7  # the window's top-left patch
            assert torch.allclose(drops[:, patch], lost, atol=1e-5)
            assert torch.allclose(drops[:, patch + 15], lost, atol=1e-5)  # same window
    with pytest.raises(ValueError, match="window must be a multiple of the 16-pixel patch"):
        occlusion_maps(tiny_random_timm, pixels, classes, window=24)
    assert _untouched(tiny_random_timm.model)


def test_gradient_rollout_follows_vit_explain_and_chefer_clamps_each_head(tiny_random_timm,
                                                                         pixels):
    from helpers.maps.gradients import relevance_propagation, rollout_fused

    classes = tiny_random_timm.logits(pixels).argmax(-1)
    found = explanation_maps(tiny_random_timm, pixels, classes,
                             methods=["gradient rollout", "Chefer relevance"])
    attentions, gradients, _ = own_class_gradients(tiny_random_timm, pixels, classes)
    product = gradients * attentions  # (L, B, heads, N, N)
    averaged_then_clamped = product.mean(dim=2).clamp_min(0)  # vit-explain's grad_rollout
    clamped_then_averaged = product.clamp_min(0).mean(dim=2)  # Chefer's Ā
    want_rollout = rollout_fused(averaged_then_clamped, 0.9)
    want_chefer = relevance_propagation(clamped_then_averaged)[:, 0, 1:]
    # the same kernels on the same tensors, but two passes through autograd: float rounding
    scale = float(want_rollout.abs().max())
    assert torch.allclose(found.maps["gradient rollout"], want_rollout, atol=1e-5 * scale)
    scale = float(want_chefer.abs().max())
    assert torch.allclose(found.maps["Chefer relevance"], want_chefer, atol=1e-5 * scale)
