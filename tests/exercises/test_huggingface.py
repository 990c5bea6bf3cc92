"""Notebook 02 exercise checks: references pass, typical mistakes fail, errors are caught."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from helpers.data.images import sample_images
from helpers.exercises.huggingface import (
    check_attention_maps,
    check_split_qkv,
    check_to_image,
    reference_attention_maps,
    reference_split_qkv,
    reference_to_image,
)
from helpers.models.libraries import sdpa_returns_attention_maps, set_attention_implementation

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


def _photo() -> Image.Image:
    return sample_images()["coffee"]


def test_to_image_reference_passes():
    result = check_to_image(reference_to_image, _photo())
    assert result.passed and result.max_error <= 1.0, result


def test_to_image_with_copied_numbers_fails():
    def hard_coded(pixel_values, processor):  # right for google's mean = std = 0.5 only
        x = (pixel_values * 0.5 + 0.5) * 255
        return x.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()

    result = check_to_image(hard_coded, _photo())
    assert not result.passed and "read all" in result.message


def test_to_image_typical_mistakes_fail():
    def channels_first(pixel_values, processor):
        return torch.as_tensor(reference_to_image(pixel_values, processor)).permute(2, 0, 1)

    assert "channels go last" in check_to_image(channels_first, _photo()).message

    def floats(pixel_values, processor):  # forgot to go back to 0..255 integers
        return pixel_values.permute(1, 2, 0).numpy()

    assert "uint8" in check_to_image(floats, _photo()).message

    def no_std(pixel_values, processor):
        mean = torch.tensor(processor.image_mean).view(3, 1, 1)
        x = (pixel_values + mean) / processor.rescale_factor
        return x.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()

    assert not check_to_image(no_std, _photo())


def test_to_image_error_is_reported():
    result = check_to_image(lambda pixel_values, processor: processor.nope, _photo())
    assert not result.passed and "AttributeError" in result.message


def test_split_qkv_reference_passes():
    result = check_split_qkv(reference_split_qkv)
    assert result.passed and result.max_error < 1e-5, result


def test_split_qkv_interleaved_or_swapped_fails():
    def interleaved(weight, bias):  # a typical mistake: treat rows as (D, 3) instead of (3, D)
        d = weight.shape[1]
        w = weight.reshape(d, 3, d)
        b = bias.reshape(d, 3)
        return [(w[:, i], b[:, i]) for i in range(3)]

    assert not check_split_qkv(interleaved)
    swapped = lambda weight, bias: reference_split_qkv(weight, bias)[::-1]  # noqa: E731 - v, k, q
    assert not check_split_qkv(swapped)
    unsplit = lambda weight, bias: [(weight, bias)] * 3  # noqa: E731
    result = check_split_qkv(unsplit)
    assert not result.passed and "expected weight" in result.message


def test_attention_maps_reference_passes_and_restores_sdpa():
    result = check_attention_maps(reference_attention_maps)
    assert result.passed, result


def test_attention_maps_naive_call_on_sdpa_fails():
    if sdpa_returns_attention_maps():
        pytest.skip("transformers 4.53-4.54 fall back to eager for this call: the naive answer "
                    "is right there")

    def naive(model, pixel_values):
        return model(pixel_values=pixel_values, output_attentions=True).attentions

    result = check_attention_maps(naive)
    assert not result.passed and "expected 2 attention tensors" in result.message


def test_attention_maps_left_eager_fails():
    def stays_eager(model, pixel_values):
        set_attention_implementation(model, "eager")
        return model(pixel_values=pixel_values, output_attentions=True).attentions

    result = check_attention_maps(stays_eager)
    assert not result.passed and "restore" in result.message


def test_attention_maps_reference_shapes_and_rows_sum_to_one():
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=24, num_hidden_layers=3,
                       num_attention_heads=2, intermediate_size=48, num_labels=3)
    model = ViTForImageClassification(config).eval()
    set_attention_implementation(model, "sdpa")
    maps = reference_attention_maps(model, torch.randn(2, 3, 32, 32))
    assert len(maps) == 3 and all(m.shape == (2, 2, 17, 17) for m in maps)
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, 2, 17), atol=1e-5)
    assert model.config._attn_implementation == "sdpa"


def test_unanswered_stubs_fail_with_a_hint():
    for result in [check_to_image(lambda p, proc: None, _photo()),
                   check_split_qkv(lambda w, b: None),
                   check_attention_maps(lambda m, x: None)]:
        assert not result.passed and "returned None" in result.message
