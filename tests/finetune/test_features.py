"""helpers.finetune.features: one frozen pass gives every last block's class and mean patch
token; the probe learns a separable problem; its head, folded into the model, gives the same
logits (LP-FT starts from it)."""

from __future__ import annotations

import pytest
import torch
from tiny_vits import DEPTH, DIM, tiny_timm

from helpers.finetune.data import ImageSplit, PixelPipeline
from helpers.finetune.features import extract_features, fit_probe
from helpers.finetune.methods import finetuning_copy
from helpers.tolerances import assert_same_maths

PIPELINE = PixelPipeline(32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@pytest.fixture(scope="module")
def split() -> ImageSplit:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=generator)
    return ImageSplit(images, torch.arange(12) % 2, ("a", "b"))


def test_features_are_the_blocks_tokens_and_the_heads_input(split):
    model = tiny_timm()
    features = extract_features(model, split, PIPELINE, blocks=2, batch_size=5)
    assert features.blocks.shape == (12, 2 * 2 * DIM) and features.pre_logits.shape == (12, DIM)
    pixels = PIPELINE(split.images)
    with torch.no_grad():
        tokens = model.forward_features(pixels)                      # (12, 17, D), final norm
        logits = model(pixels)
    last_cls = features.blocks[:, 2 * DIM:3 * DIM]                    # last block's class token
    tolerance = 1e-5 * tokens.abs().max().item()                    # fused vs explicit kernel
    assert torch.allclose(last_cls, tokens[:, 0], atol=tolerance, rtol=0)
    assert torch.allclose(features.blocks[:, 3 * DIM:], tokens[:, 1:].mean(1), atol=tolerance,
                          rtol=0)
    assert torch.allclose(features.pre_logits, tokens[:, 0], atol=tolerance, rtol=0)
    assert torch.allclose(model.head(features.pre_logits), logits,
                          atol=1e-5 * logits.abs().max().item(), rtol=0)
    assert not model.training and features.seconds > 0
    with pytest.raises(ValueError, match="blocks"):
        extract_features(model, split, PIPELINE, blocks=DEPTH + 1)


def test_probe_separates_what_is_separable_and_folds_into_a_head():
    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(60) % 3
    centres = torch.randn(3, 10, generator=generator) * 3
    features = centres[labels] + torch.randn(60, 10, generator=generator) * 0.5 + 7.0
    probe = fit_probe(features, labels, 3, l2=1.0)
    assert probe.accuracy(features, labels) == 1.0
    head = probe.as_head()
    with torch.no_grad():
        # nn.Linear against the probe's own matmul: two kernels
        assert_same_maths(head(features), probe.logits(features))
    assert probe.accuracy(features, labels, flipped=features) == 1.0
    weak = fit_probe(features, labels, 3, l2=1e6)                      # penalty swamps the data
    assert weak.linear.weight.abs().max() < probe.linear.weight.abs().max() / 10
    with pytest.raises(ValueError, match="one label each"):
        fit_probe(features, labels[:5], 3)


def test_lp_ft_starts_from_the_probes_predictions(split):
    model = tiny_timm()
    features = extract_features(model, split, PIPELINE, blocks=1)
    probe = fit_probe(features.pre_logits, split.labels, 2)
    started = finetuning_copy(model, 2, head=probe.as_head()).eval()
    with torch.no_grad():
        logits = started(PIPELINE(split.images))
    assert torch.allclose(logits, probe.logits(features.pre_logits),
                          atol=1e-4 * logits.abs().max().item() + 1e-5, rtol=0)
