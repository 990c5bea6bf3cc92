"""Notebook 01 exercise checks: references pass, typical mistakes fail, errors are caught."""

from __future__ import annotations

import torch

from helpers.data.images import sample_images
from helpers.exercises.classification import (
    check_preprocess,
    check_token_count,
    check_top_k,
    reference_preprocess,
    reference_token_count,
    reference_top_k,
)


def test_token_count_reference_passes_and_mistakes_fail():
    assert check_token_count(reference_token_count).passed
    assert not check_token_count(lambda size, patch: (size // patch) ** 2)
    result = check_token_count(lambda size, patch: 1 / 0)
    assert not result.passed and "ZeroDivisionError" in result.message


def test_top_k_reference_passes_and_mistakes_fail():
    assert check_top_k(reference_top_k).max_error == 0.0
    raw_logits = lambda logits, labels, k: [  # noqa: E731 - a typical mistake: no softmax
        (labels[i], float(logits[i])) for i in logits.topk(k).indices]
    assert not check_top_k(raw_logits)
    ascending = lambda logits, labels, k: reference_top_k(logits, labels, k)[::-1]  # noqa: E731
    assert not check_top_k(ascending)
    assert not check_top_k(lambda logits, labels, k: None)


def test_preprocess_reference_passes_and_unnormalised_fails():
    image = sample_images()["coffee"]
    result = check_preprocess(reference_preprocess, image)
    assert result.passed and result.max_error < 1e-5
    unnormalised = lambda img: reference_preprocess(img) * 0.229 + 0.485  # noqa: E731
    assert not check_preprocess(unnormalised, image)
    assert not check_preprocess(lambda img: torch.zeros(3, 10, 10), image)


def test_result_prints_one_line():
    text = str(check_token_count(reference_token_count))
    assert text.startswith("[PASS] token_count") and "\n" not in text
