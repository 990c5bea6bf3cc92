"""The ViT computed by hand equals each library's own computation, step by step."""

from __future__ import annotations

import pytest
import torch
from tiny_vits import CLASSES, DEPTH, HEADS, IMAGE_SIZE, LIBRARIES, PATCH, TOKENS, logits, tiny_trio
from torch import nn

from helpers.maps.capture import capture_attention
from helpers.models.by_hand import (
    attention_probs,
    block_forward,
    gelu,
    input_sequence,
    layer_norm,
    merge_heads,
    patch_embedding,
    patchify,
    split_heads,
    vit_forward,
)
from helpers.models.libraries import hf_layers
from helpers.models.parts import Norm, vit_parts
from helpers.tolerances import DEEP, assert_same_maths

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def trio() -> dict[str, nn.Module]:
    return tiny_trio(seed=7)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(8))


def _blocks(model: nn.Module, library: str) -> nn.ModuleList:
    return {"timm": lambda: model.blocks, "torchvision": lambda: model.encoder.layers,
            "transformers": lambda: hf_layers(model)}[library]()


def _block_inputs_and_outputs(model: nn.Module, library: str, images: torch.Tensor
                              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    inputs, outputs = [], []
    handles = []
    for block in _blocks(model, library):
        handles.append(block.register_forward_pre_hook(lambda _m, args: inputs.append(args[0])))
        handles.append(block.register_forward_hook(
            lambda _m, _args, out: outputs.append(out[0] if isinstance(out, tuple) else out)))
    try:
        logits(model, images)
    finally:
        for handle in handles:
            handle.remove()
    return inputs, outputs


def test_patchify_is_unfold_and_orders_patches_row_by_row():
    images = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).reshape(2, 3, 8, 12)
    patches = patchify(images, 4)  # (2, 6, 48)
    assert patches.shape == (2, 6, 3 * 4 * 4)
    # patch 4 is row 1, column 1: its first value is channel 0, pixel (4, 4)
    assert patches[1, 4, 0] == images[1, 0, 4, 4]
    assert torch.equal(patches[0, 5].reshape(3, 4, 4), images[0, :, 4:8, 8:12])


@pytest.mark.parametrize("library", LIBRARIES)
def test_patch_embedding_equals_the_models_convolution(trio, images, library):
    parts = vit_parts(trio[library])
    conv = nn.functional.conv2d(images, parts.patch_weight, parts.patch_bias, stride=PATCH)
    with torch.no_grad():
        mine = patch_embedding(images, parts.patch_weight, parts.patch_bias)  # (B, N, D)
    assert_same_maths(mine, conv.flatten(2).transpose(1, 2))  # matmul vs convolution kernel


@pytest.mark.parametrize("library", LIBRARIES)
def test_input_sequence_equals_what_the_first_block_receives(trio, images, library):
    inputs, _ = _block_inputs_and_outputs(trio[library], library, images)
    with torch.no_grad():
        sequence = input_sequence(images, vit_parts(trio[library]))
    assert sequence.shape == (2, TOKENS, inputs[0].shape[-1])
    assert_same_maths(sequence, inputs[0])  # our matmul vs the library's convolution


@pytest.mark.parametrize("library", LIBRARIES)
def test_each_block_by_hand_equals_the_blocks_output(trio, images, library):
    inputs, outputs = _block_inputs_and_outputs(trio[library], library, images)
    parts = vit_parts(trio[library])
    with capture_attention(trio[library]) as captured:
        logits(trio[library], images)
    assert len(inputs) == len(parts.blocks) == DEPTH
    with torch.no_grad():
        for x, block, out, attn in zip(inputs, parts.blocks, outputs, captured, strict=True):
            trace = block_forward(x, block)
            assert_same_maths(trace.output, out)  # one block: our maths vs the library's
            assert_same_maths(trace.attention, attn)


@pytest.mark.parametrize("library", LIBRARIES)
def test_all_blocks_by_hand_reproduce_the_final_class_token_and_logits(trio, images, library):
    model = trio[library]
    with torch.no_grad():
        trace = vit_forward(images, vit_parts(model))
    assert trace.logits.shape == (2, CLASSES) and trace.cls.shape == (2, trace.tokens.shape[-1])
    assert len(trace.attentions) == DEPTH
    assert_same_maths(trace.logits, logits(model, images), ulps=DEEP)  # all blocks
    if library == "timm":
        with torch.no_grad():
            final = model.forward_features(images)  # (B, 1 + N, D) after the final norm
        assert_same_maths(trace.cls, final[:, 0], ulps=DEEP)
    if library == "transformers":
        with torch.no_grad():
            final = model.vit(images).last_hidden_state  # (B, 1 + N, D)
        assert_same_maths(trace.tokens, final, ulps=DEEP)


def test_small_pieces_match_torch():
    generator = torch.Generator().manual_seed(9)
    x = torch.randn(2, 5, 12, generator=generator) * 3 + 1  # (B, N, D)
    norm = Norm(torch.randn(12, generator=generator), torch.randn(12, generator=generator), 1e-6)
    # our formulas vs torch's kernels: the same maths, rounded differently
    assert_same_maths(layer_norm(x, norm),
                      nn.functional.layer_norm(x, (12,), norm.weight, norm.bias, 1e-6))
    assert_same_maths(gelu(x), nn.functional.gelu(x))
    heads = split_heads(x, 3)  # (B, 3, N, 4)
    assert heads.shape == (2, 3, 5, 4)
    assert torch.equal(heads[:, 1], x[..., 4:8])  # head 1 gets features 4..7
    assert torch.equal(merge_heads(heads), x)
    q, k = heads, split_heads(torch.randn(2, 5, 12, generator=generator), 3)
    probs = attention_probs(q, k)  # (B, 3, N, N)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 3, 5))
    v = torch.randn(2, 3, 5, 4, generator=generator)
    assert_same_maths(probs @ v, nn.functional.scaled_dot_product_attention(q, k, v))


def test_bad_shapes_raise_clear_errors(trio):
    parts = vit_parts(trio["timm"])
    with pytest.raises(ValueError, match=r"shape \(B, C, H, W\); got \(3, 32, 32\)"):
        patchify(torch.zeros(3, 32, 32), 8)
    with pytest.raises(ValueError, match="divisible by patch_size=8; got 30 x 32"):
        patchify(torch.zeros(1, 3, 30, 32), 8)
    with pytest.raises(ValueError, match="position embeddings for 16"):
        input_sequence(torch.zeros(1, 3, 64, 64), parts)
    with pytest.raises(ValueError, match="D divisible by num_heads=5"):
        split_heads(torch.zeros(1, 4, 12), 5)
    with pytest.raises(ValueError, match="q and k"):
        attention_probs(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 4, 4))
    assert parts.num_heads == HEADS


@pytest.mark.real_weights
def test_stand_in_models_by_hand_equal_the_libraries(stand_in_models, photos):
    for library, loaded in stand_in_models.items():
        pixels = loaded.batch([photos["chelsea"], photos["astronaut"]])  # (2, 3, 224, 224)
        with torch.no_grad():
            trace = vit_forward(pixels, vit_parts(loaded))
        assert trace.logits.shape == (2, 1000)
        assert_same_maths(trace.logits, loaded.logits(pixels), ulps=DEEP, msg=library)
        inputs, outputs = _block_inputs_and_outputs(loaded.model, library, pixels[:1])
        first = vit_parts(loaded).blocks[0]
        with torch.no_grad():
            assert_same_maths(block_forward(inputs[0], first).output, outputs[0], msg=library)
