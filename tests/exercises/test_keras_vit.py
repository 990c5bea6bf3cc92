"""Notebook 06 exercise checks: references pass, typical mistakes fail, errors are caught."""

from __future__ import annotations

import math

from helpers.exercises.keras_vit import (
    check_attention_parameters,
    check_numpy_patchify,
    check_warmup_cosine,
    reference_attention_parameters,
    reference_numpy_patchify,
    reference_warmup_cosine,
)


def test_patchify_reference_passes_and_a_plain_reshape_fails():
    result = check_numpy_patchify(reference_numpy_patchify)
    assert result.passed and result.max_error == 0.0
    plain = lambda x, p: x.reshape(x.shape[0], -1, p * p * x.shape[-1])  # noqa: E731
    result = check_numpy_patchify(plain)
    assert not result.passed and "wrong order" in result.message
    assert not check_numpy_patchify(lambda x, p: x[:, ::p, ::p])  # wrong shape
    assert "ValueError" in check_numpy_patchify(lambda x, p: x.reshape(7, -1)).message


def test_attention_parameters_reference_passes_and_mistakes_fail():
    assert check_attention_parameters(reference_attention_parameters).passed
    no_bias = lambda w, h, d: 4 * w * h * d  # noqa: E731
    assert not check_attention_parameters(no_bias)
    split_width = lambda w, h, d: 4 * (w * w + w)  # noqa: E731 - assumes key_dim = width / heads
    result = check_attention_parameters(split_width)
    assert not result.passed and "64 heads" not in result.message
    assert not check_attention_parameters(lambda w, h, d: None)


def test_warmup_cosine_reference_passes_and_mistakes_fail():
    result = check_warmup_cosine(reference_warmup_cosine)
    assert result.passed and result.max_error < 1e-5

    def cosine_over_all_steps(step, total, peak, warmup):
        if step < warmup:
            return peak * step / warmup
        return peak * 0.5 * (1 + math.cos(math.pi * step / total))

    assert not check_warmup_cosine(cosine_over_all_steps)
    assert not check_warmup_cosine(lambda step, total, peak, warmup: peak)  # no schedule
    assert "ZeroDivisionError" in check_warmup_cosine(lambda s, t, p, w: 1 / 0).message


def test_results_print_one_line():
    text = str(check_attention_parameters(reference_attention_parameters))
    assert text.startswith("[PASS] attention_parameters") and "\n" not in text
