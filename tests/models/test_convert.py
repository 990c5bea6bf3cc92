"""helpers.models.convert: one timm ViT copied into torchvision's and transformers' classes.

A small, seeded, randomly initialised timm ViT stands in for real weights: parity of
the logits is a property of the conversion, not of what the weights learned.
"""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from helpers.models.convert import (
    ViTArchitecture,
    architecture_of,
    timm_to_torchvision,
    timm_to_transformers,
)
from helpers.tolerances import DEEP, assert_same_maths

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api

SMALL = dict(depth=2, num_classes=10, img_size=64, patch_size=8)  # 64 patches of 8x8
LABELS = {i: f"class {i}" for i in range(10)}


def timm_vit(name: str = "vit_tiny_patch16_224", seed: int = 0, **kwargs) -> nn.Module:
    """A timm ViT in eval mode whose every parameter is random and far from its default.

    LayerNorm scales near 1 and all other tensors (biases, class token, position
    embedding included) drawn at random, so a parameter copied to the wrong place, or
    not copied at all, changes the logits well beyond the test tolerance.
    """
    model = timm.create_model(name, pretrained=False, **kwargs)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param_name, param in model.named_parameters():
            values = torch.randn(param.shape, generator=generator)
            is_norm_scale = "norm" in param_name and param_name.endswith("weight")
            param.copy_(1 + 0.2 * values if is_norm_scale else 0.1 * values)
    return model.eval()


@pytest.fixture(scope="module")
def vit() -> nn.Module:
    return timm_vit(**SMALL)


@pytest.fixture(scope="module")
def pixels() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))  # (B, 3, H, W)


@pytest.fixture(scope="module")
def reference(vit: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        logits = vit(pixels)  # (2, 10)
    assert logits.std() > 0.1, "logits too small for a meaningful parity check"
    return logits


# --------------------------------------------------------------------------- architecture


def test_architecture_of_reads_dims(vit: nn.Module) -> None:
    arch = architecture_of(vit)
    assert arch == ViTArchitecture(image_size=64, patch_size=8, dim=192, depth=2, num_heads=3,
                                   mlp_dim=768, num_classes=10, eps=1e-6)
    assert arch.num_patches == 64


def test_architecture_of_other_sizes() -> None:
    """ViT-S/16 widths, a headless model, a non-default MLP ratio."""
    model = timm.create_model("vit_small_patch16_224", pretrained=False, depth=1, num_classes=0,
                              img_size=48, mlp_ratio=2.0)
    assert architecture_of(model) == ViTArchitecture(48, 16, 384, 1, 6, 768, 0, 1e-6)
    assert architecture_of(model).num_patches == 9


UNSUPPORTED = {  # timm kwargs -> words the error must contain
    "average pooling": (dict(global_pool="avg"), "global_pool='avg'"),
    "register tokens": (dict(reg_tokens=4), "register tokens"),
    "no class token": (dict(class_token=False, global_pool="avg"), "no class token"),
    "fc_norm": (dict(fc_norm=True), "fc_norm"),
    "layer scale": (dict(init_values=1e-5), "layer scale"),
    "qkv without bias": (dict(qkv_bias=False), "attention projections without bias"),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_architecture_of_rejects_unsupported(case: str) -> None:
    kwargs, words = UNSUPPORTED[case]
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=1, num_classes=10,
                              img_size=32, **kwargs)
    with pytest.raises(ValueError, match="cannot convert") as info:
        architecture_of(model)
    assert words in str(info.value)


@pytest.mark.parametrize("kwargs", [
    pytest.param(dict(qk_norm=True), id="qk_norm"),
    pytest.param(dict(act_layer="relu"), id="relu_mlp"),
    pytest.param(dict(pre_norm=True), id="pre_norm"),
    pytest.param(dict(no_embed_class=True), id="no_embed_class"),
    pytest.param(dict(final_norm=False), id="no_final_norm"),
    pytest.param(dict(proj_bias=False), id="proj_without_bias"),
])
def test_architecture_of_rejects_features_the_converters_drop(kwargs: dict) -> None:
    """Features the converters cannot map must be refused up front, not mis-converted."""
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=1, num_classes=10,
                              img_size=32, **kwargs)
    with pytest.raises(ValueError, match="cannot convert"):
        architecture_of(model)


# --------------------------------------------------------------------------- torchvision


def test_timm_to_torchvision_logits_match(vit: nn.Module, pixels: torch.Tensor,
                                          reference: torch.Tensor) -> None:
    from torchvision.models import VisionTransformer

    tv = timm_to_torchvision(vit)
    assert isinstance(tv, VisionTransformer)
    assert not tv.training
    with torch.no_grad():
        logits = tv(pixels)
    assert logits.shape == (2, 10)
    assert_same_maths(logits, reference, ulps=DEEP)  # torchvision's kernels vs timm's


def test_timm_to_torchvision_needs_a_head() -> None:
    headless = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=1,
                                 num_classes=0, img_size=32)
    with pytest.raises(ValueError, match="num_classes=0"):
        timm_to_torchvision(headless)


def test_conversions_copy_and_leave_the_source_untouched(vit: nn.Module) -> None:
    """The converted models own their tensors; the timm model is not modified."""
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    converted = [timm_to_torchvision(vit), timm_to_transformers(vit, LABELS)]
    after = vit.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    source_storage = {p.data_ptr() for p in vit.parameters()}
    for model in converted:
        assert not {p.data_ptr() for p in model.parameters()} & source_storage


# --------------------------------------------------------------------------- transformers


def test_timm_to_transformers_logits_match(vit: nn.Module, pixels: torch.Tensor,
                                           reference: torch.Tensor) -> None:
    from transformers import ViTForImageClassification

    hf = timm_to_transformers(vit, LABELS)
    assert isinstance(hf, ViTForImageClassification)
    assert not hf.training
    with torch.no_grad():
        logits = hf(pixel_values=pixels).logits
    assert logits.shape == (2, 10)
    assert_same_maths(logits, reference, ulps=DEEP)  # transformers' kernels vs timm's


def test_timm_to_transformers_stores_labels(vit: nn.Module) -> None:
    hf = timm_to_transformers(vit, LABELS)
    assert hf.config.id2label == LABELS
    assert hf.config.label2id == {name: i for i, name in LABELS.items()}
    assert hf.config.num_labels == 10


@pytest.mark.parametrize("size", [0, 9, 11])
def test_timm_to_transformers_wrong_label_count(vit: nn.Module, size: int) -> None:
    with pytest.raises(ValueError, match=f"id2label has {size} entries.*10 classes"):
        timm_to_transformers(vit, {i: str(i) for i in range(size)})


def test_timm_to_transformers_returns_attentions(vit: nn.Module, pixels: torch.Tensor) -> None:
    """Eager attention: output_attentions=True gives one (B, heads, N, N) map per layer."""
    hf = timm_to_transformers(vit, LABELS)
    with torch.no_grad():
        attentions = hf(pixel_values=pixels, output_attentions=True).attentions
    assert attentions is not None and len(attentions) == 2
    for attention in attentions:
        assert attention.shape == (2, 3, 65, 65)  # (B, heads, 1 + patches, 1 + patches)
        torch.testing.assert_close(attention.sum(-1), torch.ones(2, 3, 65))
