"""helpers.finetune.data: uint8 images in, the weights' own normalised pixels out; the training
augmentation crops and flips without inventing pixels; the stand-in's recipe is read from timm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_vits import tiny_timm

from helpers.finetune.data import ImageSplit, PixelPipeline, as_uint8_images, split_of

HALF = PixelPipeline(8, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def test_arrays_in_either_layout_become_n3hw_uint8():
    hwc = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    assert as_uint8_images(hwc).shape == (2, 3, 4, 5)
    assert as_uint8_images(torch.zeros(2, 3, 4, 5, dtype=torch.uint8)).shape == (2, 3, 4, 5)
    with pytest.raises(ValueError, match="uint8"):
        as_uint8_images(np.zeros((2, 4, 5, 3), dtype=np.float32))


def test_split_checks_labels_and_subsets():
    split = split_of(np.zeros((4, 2, 2, 3), np.uint8), [0, 1, 1, 0], ["a", "b"])
    assert len(split) == 4 and split.classes == ("a", "b")
    assert len(split.subset(3)) == 3 and split.subset(index=torch.tensor([1])).labels.item() == 1
    with pytest.raises(ValueError, match="labels must lie"):
        split_of(np.zeros((2, 2, 2, 3), np.uint8), [0, 2], ["a", "b"])
    with pytest.raises(ValueError, match="labels must have shape"):
        ImageSplit(torch.zeros(2, 3, 2, 2, dtype=torch.uint8), torch.zeros(3).long(), ("a",))


def test_eval_pixels_are_resized_and_normalised_with_the_weights_statistics():
    white = torch.full((1, 3, 4, 4), 255, dtype=torch.uint8)
    black = torch.zeros((1, 3, 4, 4), dtype=torch.uint8)
    assert torch.allclose(HALF(white), torch.ones(1, 3, 8, 8))      # (1 - 0.5) / 0.5
    assert torch.allclose(HALF(black), -torch.ones(1, 3, 8, 8))
    imagenet = HALF.with_(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    assert HALF(white).shape == imagenet(white).shape and not torch.allclose(HALF(white),
                                                                             imagenet(white))


def test_flip_mirrors_and_training_augmentation_only_moves_pixels():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8, generator=generator)
    same = HALF.with_(size=8)
    assert torch.equal(same(images, flip=True), same(images).flip(-1))
    augmented = same(images, train=True, generator=torch.Generator().manual_seed(1))
    again = same(images, train=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(augmented, again)                          # seeded
    assert not torch.equal(augmented, same(images))
    # a reflected crop and a flip only move pixels: every output value is one of the image's
    for a, b in zip(augmented, same(images), strict=True):
        assert set(a.unique().tolist()) <= set(b.unique().tolist())
    no_aug = same.with_(pad=0, flip=False)
    assert torch.equal(no_aug(images, train=True), same(images))


def test_recipe_comes_from_the_model_config():
    pipeline = PixelPipeline.for_model(tiny_timm(), size=64, pad=0)
    assert pipeline.size == 64 and pipeline.pad == 0
    assert pipeline.interpolation in ("bicubic", "bilinear") and len(pipeline.mean) == 3


def test_to_image_undoes_the_normalisation():
    images = torch.randint(0, 256, (1, 3, 8, 8), dtype=torch.uint8)
    back = HALF.with_(size=8).to_image(HALF.with_(size=8)(images)[0])
    assert np.allclose(back, images[0].permute(1, 2, 0).numpy() / 255.0, atol=1e-6)


def test_bad_batches_are_named():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\) uint8"):
        HALF(torch.zeros(1, 3, 4, 4))


def test_the_default_size_follows_a_resized_model():
    from helpers.finetune.methods import set_input_size

    assert PixelPipeline.for_model(set_input_size(tiny_timm(), 48)).size == 48
