"""capture_attention: one map per layer, right shapes, rows sum to 1, nothing left behind,
logits unchanged, batches, fused paths, and maps equal to softmax(q kᵀ / √d) by hand."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_vits import DEPTH, HEADS, IMAGE_SIZE, LIBRARIES, TOKENS, hook_state, logits, tiny_trio
from torch import nn

from helpers.maps.capture import capture_attention
from helpers.models.libraries import hf_layers, set_attention_implementation
from helpers.models.parts import vit_parts
from helpers.tolerances import DEEP, assert_same_maths

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def trio() -> dict[str, nn.Module]:
    return tiny_trio()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("library", LIBRARIES)
def test_one_map_per_layer_with_rows_summing_to_one(trio, images, library):
    with capture_attention(trio[library]) as attentions:
        logits(trio[library], images)
    assert len(attentions) == DEPTH
    for weights in attentions:
        assert weights.shape == (2, HEADS, TOKENS, TOKENS)
        assert (weights >= 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, HEADS, TOKENS))


@pytest.mark.parametrize("library", LIBRARIES)
def test_hooks_are_removed_on_exit_and_after_an_exception(trio, images, library):
    model = trio[library]
    before = hook_state(model)
    with capture_attention(model) as attentions:
        assert hook_state(model) != before  # hooks are really installed inside
        logits(model, images)
    assert hook_state(model) == before
    with pytest.raises(ZeroDivisionError), capture_attention(model):
        logits(model, images)
        1 / 0  # noqa: B018 - an error inside the with block
    assert hook_state(model) == before
    with pytest.raises((RuntimeError, ValueError)), capture_attention(model):
        logits(model, images[:, :2])  # wrong channel count: the forward pass itself fails
    assert hook_state(model) == before
    count = len(attentions)
    logits(model, images)  # nothing is recorded after exit
    assert len(attentions) == count


@pytest.mark.parametrize("library", LIBRARIES)
def test_logits_are_unchanged_by_capturing(trio, images, library):
    model = trio[library]
    plain = logits(model, images)
    with capture_attention(model):
        captured = logits(model, images)
    if library == "torchvision":
        # nn.MultiheadAttention computes the same softmax by an explicit path instead of its
        # fused kernel when asked for weights: equal up to float32 rounding, through all blocks.
        assert_same_maths(captured, plain, ulps=DEEP)
    else:
        assert torch.equal(captured, plain)


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_batch_of_two_equals_each_image_alone(trio, images, library):
    model = trio[library]
    with capture_attention(model) as both:
        logits(model, images)
    for i in range(2):
        with capture_attention(model) as alone:
            logits(model, images[i:i + 1])
        for layer_both, layer_alone in zip(both, alone, strict=True):
            assert_same_maths(layer_both[i:i + 1], layer_alone, ulps=DEEP)  # batched matmuls


@pytest.mark.parametrize("library", LIBRARIES)
def test_captured_maps_equal_softmax_qk_from_each_layers_own_weights(trio, images, library):
    model = trio[library]
    parts = vit_parts(model)
    block_modules = {"timm": lambda m: m.blocks, "torchvision": lambda m: m.encoder.layers,
                     "transformers": lambda m: hf_layers(m)}[library](model)
    inputs: list[torch.Tensor] = []
    handles = [block.register_forward_pre_hook(lambda _m, args: inputs.append(args[0]))
               for block in block_modules]
    try:
        with capture_attention(model) as attentions:
            logits(model, images)
    finally:
        for handle in handles:
            handle.remove()
    assert len(inputs) == DEPTH
    with torch.no_grad():
        for x, block, captured in zip(inputs, parts.blocks, attentions, strict=True):
            h = torch.nn.functional.layer_norm(x, (x.shape[-1],), block.norm1.weight,
                                               block.norm1.bias, block.norm1.eps)
            b, n, d = h.shape
            q = (h @ block.q.weight.T + block.q.bias).reshape(b, n, HEADS, -1).transpose(1, 2)
            k = (h @ block.k.weight.T + block.k.bias).reshape(b, n, HEADS, -1).transpose(1, 2)
            by_hand = (q @ k.transpose(-2, -1) / math.sqrt(d // HEADS)).softmax(-1)
            assert_same_maths(captured, by_hand)  # one layer, two kernels


def test_the_three_libraries_capture_the_same_maps(trio, images):
    captured = {}
    for library in LIBRARIES:
        with capture_attention(trio[library]) as attentions:
            logits(trio[library], images)
        captured[library] = torch.stack(attentions)  # (depth, B, heads, N, N)
    for library in ("torchvision", "transformers"):  # three libraries' kernels, all blocks
        assert_same_maths(captured[library], captured["timm"], ulps=DEEP, msg=library)


def test_timm_with_fused_attention_is_captured_and_restored(images):
    model = tiny_trio(seed=2)["timm"]
    for block in model.blocks:
        block.attn.fused_attn = True
    plain = logits(model, images)
    with capture_attention(model) as attentions:
        assert not any(block.attn.fused_attn for block in model.blocks)
        captured = logits(model, images)
    assert len(attentions) == DEPTH
    assert all(block.attn.fused_attn for block in model.blocks)
    assert_same_maths(captured, plain, ulps=DEEP)  # fused sdpa vs explicit softmax


def test_transformers_sdpa_is_switched_to_eager_and_back(images):
    model = tiny_trio(seed=3)["transformers"]
    set_attention_implementation(model, "sdpa")
    plain = logits(model, images)
    with capture_attention(model) as attentions:
        assert model.config._attn_implementation == "eager"
        captured = logits(model, images)
    assert model.config._attn_implementation == "sdpa"
    assert len(attentions) == DEPTH
    assert_same_maths(captured, plain, ulps=DEEP)  # sdpa vs eager attention
    with pytest.raises(ZeroDivisionError), capture_attention(model):
        1 / 0  # noqa: B018
    assert model.config._attn_implementation == "sdpa"


def test_torchvision_caller_still_gets_what_it_asked_for():
    mha = nn.MultiheadAttention(12, 3, batch_first=True).eval()
    x = torch.randn(2, 5, 12)
    with capture_attention(mha) as attentions, torch.no_grad():
        _, none = mha(x, x, x, need_weights=False)
        _, averaged = mha(x, x, x)  # need_weights defaults to True, averaged over heads
        _, per_head = mha(x, x, x, None, True, None, False)  # all positional
    assert none is None
    assert averaged.shape == (2, 5, 5) and per_head.shape == (2, 3, 5, 5)
    assert_same_maths(averaged, per_head.mean(dim=1))  # torch's own head average vs ours
    assert len(attentions) == 3 and all(a.shape == (2, 3, 5, 5) for a in attentions)


def test_a_layer_that_skips_the_softmax_raises_instead_of_capturing_nothing(images):
    model = tiny_trio(seed=4)["timm"]
    attn = model.blocks[1].attn

    def fused_forward(x, attn_mask=None, is_causal=False):  # ignores fused_attn
        b, n, c = x.shape
        q, k, v = attn.qkv(x).reshape(b, n, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return attn.proj(out.transpose(1, 2).reshape(b, n, c))

    attn.forward = fused_forward
    before = hook_state(model)
    with pytest.raises(RuntimeError, match="blocks.1.attn"), capture_attention(model):
        logits(model, images)
    assert hook_state(model) == before


def test_loaded_model_accepted_and_bad_models_rejected(tiny_random_timm):
    pixels = torch.zeros(1, 3, 224, 224)
    with capture_attention(tiny_random_timm) as attentions:
        tiny_random_timm.logits(pixels)
    assert len(attentions) == len(tiny_random_timm.model.blocks)
    assert attentions[0].shape == (1, 3, 197, 197)
    with pytest.raises(ValueError, match="no attention layer"), capture_attention(nn.Linear(2, 2)):
        pass
    with pytest.raises(TypeError, match="nn.Module"), capture_attention("vit"):
        pass


def test_detach_false_keeps_the_graph(images):
    model = tiny_trio(seed=5)["timm"]
    with capture_attention(model, detach=False) as attentions:
        out = model(images)
    assert all(a.requires_grad for a in attentions)
    attentions[-1].retain_grad()
    out[:, 0].sum().backward()
    assert attentions[-1].grad is not None and attentions[-1].grad.abs().sum() > 0
    with capture_attention(model) as detached:
        model(images)
    assert not any(a.requires_grad for a in detached)


def test_transformers_4_layout_forces_output_attentions_and_hides_it_again():
    from transformers import PretrainedConfig, PreTrainedModel

    class ViTSelfAttention(nn.Module):  # the transformers 4 calling convention
        def forward(self, hidden_states, head_mask=None, output_attentions=False):
            probs = (hidden_states @ hidden_states.transpose(-1, -2)).softmax(-1)[:, None]
            context = probs[:, 0] @ hidden_states
            return (context, probs) if output_attentions else (context,)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = ViTSelfAttention()

        def forward(self, x):
            outputs = self.attention(x, None, False)
            assert len(outputs) == 1  # the caller gets what it asked for
            return outputs[0]

    class Old(PreTrainedModel):
        config_class = PretrainedConfig

        def __init__(self, config):
            super().__init__(config)
            self.layers = nn.ModuleList([Layer(), Layer()])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    model = Old(PretrainedConfig())
    x = torch.randn(2, 4, 6)
    before = hook_state(model)
    with capture_attention(model) as attentions:
        y = model(x)
    assert torch.equal(y, model(x))
    assert len(attentions) == 2 and attentions[0].shape == (2, 1, 4, 4)
    assert hook_state(model) == before


# --------------------------------------------------------------------------- real weights


@pytest.mark.real_weights
def test_stand_in_models_capture_twelve_equal_layers(stand_in_models, photos):
    images = [photos["chelsea"], photos["coffee"]]
    captured = {}
    for library, loaded in stand_in_models.items():
        pixels = loaded.batch(images)  # (2, 3, 224, 224)
        plain = loaded.logits(pixels)
        before = hook_state(loaded.model)
        with capture_attention(loaded) as attentions:
            out = loaded.logits(pixels)
        assert hook_state(loaded.model) == before
        if library == "torchvision":  # fused kernel vs the explicit maths (see tolerances.py)
            assert_same_maths(out, plain, ulps=DEEP, msg=library)
        else:  # timm and transformers capture on the same kernel they always use: same bits
            assert torch.equal(out, plain), library
        assert len(attentions) == 12
        assert all(a.shape == (2, 3, 197, 197) for a in attentions)
        captured[library] = torch.stack(attentions)
        with capture_attention(loaded) as first:
            loaded.logits(pixels[:1])
        # one image against a batch of two: matmuls blocked differently, through 12 blocks
        assert_same_maths(torch.stack(first), captured[library][:, :1], ulps=DEEP, msg=library)
    for library in ("torchvision", "transformers"):
        assert_same_maths(captured[library], captured["timm"], ulps=DEEP, msg=library)


def test_capturing_timm_does_not_import_transformers() -> None:
    """transformers takes seconds to import; a timm-only notebook should not pay for it."""
    import subprocess
    import sys

    code = ("import sys, timm, torch\n"
            "from helpers.maps.capture import capture_attention\n"
            "m = timm.create_model('vit_tiny_patch16_224', img_size=32, patch_size=16).eval()\n"
            "for b in m.blocks: b.attn.fused_attn = False\n"
            "with capture_attention(m) as maps: m(torch.zeros(1, 3, 32, 32))\n"
            "assert len(maps) == 12, len(maps)\n"
            "print('transformers' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "False", done.stderr[-500:]
