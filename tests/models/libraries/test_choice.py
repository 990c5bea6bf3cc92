"""helpers.models.libraries: which library a model is from, and the attention-kernel switch
that loading, capture and embeddings share (always restored)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from tiny_vits import DEPTH, tiny_trio

from helpers.models.libraries import (
    attention_kernel,
    hf_layer_parts,
    hf_layers,
    library_of,
    set_attention_implementation,
    unwrap,
    use_eager_attention,
)

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def trio() -> dict:
    return tiny_trio(seed=3)


@pytest.mark.parametrize("library", ["torchvision", "transformers", "timm"])
def test_library_of_the_model_and_of_what_load_returns(trio, library):
    model = trio[library]
    assert library_of(model) == library
    assert library_of(SimpleNamespace(model=model)) == library  # a LoadedModel's shape
    assert unwrap(SimpleNamespace(model=model)) is model


def test_library_of_rejects_other_modules_and_non_modules():
    with pytest.raises(ValueError, match="torchvision, transformers or timm ViT; got "
                                         "torch.nn.modules.linear.Linear"):
        library_of(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="nn.Module or what helpers.models.load returned"):
        library_of("vit_b_16")


def test_timm_kernel_switches_both_ways_and_restores(trio):
    timm_model = trio["timm"]
    for block in timm_model.blocks:
        block.attn.fused_attn = True
    with attention_kernel(timm_model, fused=False) as module:
        assert module is timm_model
        assert not any(block.attn.fused_attn for block in timm_model.blocks)
    assert all(block.attn.fused_attn for block in timm_model.blocks)
    with pytest.raises(KeyError), attention_kernel(timm_model, fused=False):
        raise KeyError("inside")
    assert all(block.attn.fused_attn for block in timm_model.blocks)
    use_eager_attention(timm_model)
    assert not any(block.attn.fused_attn for block in timm_model.blocks)


def test_transformers_kernel_switches_both_ways_and_restores(trio):
    hf = trio["transformers"]
    set_attention_implementation(hf, "sdpa")
    x = torch.randn(1, 3, 32, 32)
    with attention_kernel(hf, fused=False), torch.inference_mode():
        assert hf.config._attn_implementation == "eager"
        assert len(hf(pixel_values=x, output_attentions=True).attentions) == DEPTH
    assert hf.config._attn_implementation == "sdpa"
    use_eager_attention(SimpleNamespace(model=hf))
    assert hf.config._attn_implementation == "eager"
    with pytest.raises(ValueError, match="'eager' or 'sdpa'"):
        set_attention_implementation(hf, "fast")


def test_torchvision_has_nothing_to_switch(trio):
    tv = trio["torchvision"]
    before = {name: value.clone() for name, value in tv.state_dict().items()}
    with attention_kernel(tv, fused=True) as module:
        assert module is tv
    assert all(torch.equal(before[name], value) for name, value in tv.state_dict().items())


def test_hf_layer_parts_name_every_part(trio):
    layers = hf_layers(trio["transformers"])
    assert len(layers) == DEPTH
    parts = hf_layer_parts(layers[0])
    assert set(parts) == {"q", "k", "v", "o", "norm1", "norm2", "fc1", "fc2"}
    assert all(isinstance(module, torch.nn.Module) for module in parts.values())
