"""Notebook 09 exercise checks: references and the helpers pass, typical mistakes fail with
their hint, every failure has the one shape (expected, got, hint), and the predicted number is
measured on a real timm ViT."""

from __future__ import annotations

import math

import pytest

from helpers.exercises.finetuning import (
    check_lora_parameters,
    check_token_prediction,
    check_warmup_cosine_factor,
    reference_lora_parameters,
    reference_warmup_cosine_factor,
    tokens_in_training,
)
from helpers.finetune.schedules import warmup_cosine

BAD_ANSWERS = {
    "returns None": lambda *args: None,
    "raises": lambda *args: 1 / 0,
    "returns a string": lambda *args: "nonsense",
}


def test_lora_count_reference_passes_and_mistakes_fail():
    assert check_lora_parameters(reference_lora_parameters).passed
    whole = check_lora_parameters(lambda d_in, d_out, r: r * d_in * d_out)
    assert not whole and "rank copies of the whole matrix" in whole.message
    bias = check_lora_parameters(lambda d_in, d_out, r: r * (d_in + d_out) + d_out)
    assert not bias and "stay frozen" in bias.message


def test_schedule_reference_and_the_helper_pass_and_mistakes_fail():
    assert check_warmup_cosine_factor(reference_warmup_cosine_factor).passed
    assert check_warmup_cosine_factor(warmup_cosine).passed       # the notebook's schedule
    from_zero = check_warmup_cosine_factor(
        lambda s, t, w, f: s / w if s < w else reference_warmup_cosine_factor(s, t, w, f))
    assert not from_zero and "wastes step 0" in from_zero.message
    no_floor = check_warmup_cosine_factor(
        lambda s, t, w, f: reference_warmup_cosine_factor(s, t, w, 0.0))
    assert not no_floor
    wasted = check_warmup_cosine_factor(  # the cosine reaching the floor at the last step
        lambda s, t, w, f: (s + 1) / w if s < w else
        f + (1 - f) * 0.5 * (1 + math.cos(math.pi * (s - w) / (t - w - 1))))
    assert not wasted


def test_token_prediction_is_measured():
    assert tokens_in_training(224, 16, 0.5) == 1 + 98
    assert tokens_in_training(224, 16, 0.75) == 1 + 49
    assert tokens_in_training(112, 16, 0.0) == 1 + 49
    assert check_token_prediction(99).passed
    wrong = check_token_prediction(98)                      # forgot the class token
    assert not wrong and "class token" in wrong.message
    assert check_token_prediction(50, rate=0.75).passed


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
@pytest.mark.parametrize("check", [check_lora_parameters, check_warmup_cosine_factor])
def test_every_failure_says_what_was_expected_and_what_came(check, answer):
    result = check(answer)
    text = str(result)
    assert not result.passed, text
    assert "expected " in result.message and ", got " in result.message, text
    assert text.startswith("[FAIL] ") and "\n" not in text


@pytest.mark.parametrize("wrong", [98, ..., None, "nonsense", float("nan")])
def test_prediction_fails_in_the_one_shape(wrong):
    result = check_token_prediction(wrong)
    assert not result.passed and ". Hint: " in result.message
    assert "expected " in result.message and ", got " in result.message
