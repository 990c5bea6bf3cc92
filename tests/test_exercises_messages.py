"""Every exercise check fails in the one shape the runner gives: expected, got (and a hint)."""

from __future__ import annotations

import pytest

from helpers.data.images import sample_images
from helpers.exercises import (
    attention,
    classification,
    dino,
    embeddings,
    faithfulness,
    huggingface,
    keras_vit,
    rollout,
)


def _photo_check(check):
    return lambda fn: check(fn, sample_images()["coffee"])


CHECKS = {
    "token_count": classification.check_token_count,
    "top_k": classification.check_top_k,
    "preprocess": _photo_check(classification.check_preprocess),
    "to_image": _photo_check(huggingface.check_to_image),
    "split_qkv": huggingface.check_split_qkv,
    "attention_maps": huggingface.check_attention_maps,
    "cosine_similarity": embeddings.check_cosine_similarity,
    "mean_pool": embeddings.check_mean_pool,
    "knn_predict": embeddings.check_knn_predict,
    "patchify": attention.check_patchify,
    "split_heads": attention.check_split_heads,
    "attention": attention.check_attention,
    "rollout": rollout.check_rollout,
    "attention_distance": rollout.check_attention_distance,
    "grad_weighted": rollout.check_grad_weighted,
    "keras_patchify": keras_vit.check_numpy_patchify,
    "attention_parameters": keras_vit.check_attention_parameters,
    "warmup_cosine": keras_vit.check_warmup_cosine,
    "cls_attention": dino.check_cls_attention,
    "mass_mask": dino.check_mass_mask,
    "first_component": dino.check_first_component,
    "deletion_curve": faithfulness.check_deletion_curve,
    "rank_correlation": faithfulness.check_rank_correlation,
    "auc_predictions": faithfulness.check_auc_predictions,
}

BAD_ANSWERS = {
    "returns None": lambda *args: None,
    "raises": lambda *args: 1 / 0,
    "returns a string": lambda *args: "nonsense",
}


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
@pytest.mark.parametrize("check", CHECKS.values(), ids=CHECKS.keys())
def test_every_failure_says_what_was_expected_and_what_came(check, answer):
    result = check(answer)
    text = str(result)
    assert not result.passed, text
    assert "expected " in result.message and ", got " in result.message, text
    assert text.startswith("[FAIL] ") and "\n" not in text
