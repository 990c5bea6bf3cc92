"""What notebook 09's prose says about the offline stand-in, recomputed here (the notebook itself
asserts only what holds for every weights kind; see tests/notebooks/test_notebook_claims.py)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.datasets import CIFAR10_NPZ, stratified_split
from helpers.finetune.data import PixelPipeline, split_of
from helpers.finetune.features import extract_features, fit_probe
from helpers.finetune.methods import finetuning_copy
from helpers.finetune.precision import Precision

pytestmark = pytest.mark.real_weights


@pytest.fixture(scope="module")
def cifar():
    import os
    from pathlib import Path

    folder = os.environ.get("VIT_NOTEBOOKS_DATA", "").strip()
    path = Path(folder) / CIFAR10_NPZ if folder else None
    if path is None or not path.is_file():
        pytest.skip(f"no {CIFAR10_NPZ}: VIT_NOTEBOOKS_DATA unset")
    with np.load(path) as npz:
        x, y, classes = npz["x"][:2000], npz["y"][:2000], [str(c) for c in npz["classes"]]
    x_train, y_train, x_test, y_test = stratified_split(x, y, 300, 200, seed=0)
    return split_of(x_train, y_train, classes), split_of(x_test, y_test, classes)


def test_09_frozen_features_already_separate_the_new_classes(stand_in_models, cifar):
    """Takeaways: 'A pretrained ViT already separates new classes from frozen features'."""
    train, test = cifar
    model = finetuning_copy(stand_in_models["timm"], 10)
    pipeline = PixelPipeline.for_model(model)                       # 224 px, mean = std = 0.5
    float32 = Precision("cpu", None, "claims are checked in float32")
    found = {name: extract_features(model, split, pipeline, blocks=4, precision=float32)
             for name, split in (("train", train), ("test", test))}
    probe = fit_probe(found["train"].blocks, train.labels, 10, l2=10.0)
    accuracy = probe.accuracy(found["test"].blocks, test.labels)
    assert accuracy > 0.6, accuracy                                 # chance is 0.1 (300 images)
