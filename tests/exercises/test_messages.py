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

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


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


# predict, then verify: check, its reference (the computed number) and a typical wrong prediction
PREDICTIONS = {
    "cost_ratio": (classification.check_cost_ratio, classification.reference_cost_ratio,
                   (197 / 50) ** 2),
    "white_pixel": (huggingface.check_white_pixel, huggingface.reference_white_pixel, 1.0),
    "hidden_state_size": (embeddings.check_hidden_state_size,
                          embeddings.reference_hidden_state_size, 2 * 256 * 1024),
    "uniform_weight": (attention.check_uniform_weight, attention.reference_uniform_weight, 1.0),
    "uniform_distance": (rollout.check_uniform_distance, rollout.reference_uniform_distance,
                         116.5 / 16),
    "head_parameters": (keras_vit.check_head_parameters, keras_vit.reference_head_parameters,
                        64 * 2048 + 2048),
    "uniform_mass_patches": (dino.check_uniform_mass_patches,
                             dino.reference_uniform_mass_patches, 1),
}


@pytest.mark.parametrize(("check", "reference", "mistake"), PREDICTIONS.values(),
                         ids=PREDICTIONS.keys())
def test_predictions_pass_when_right_and_fail_in_the_one_shape(check, reference, mistake):
    truth = reference()
    assert check(truth).passed, str(check(truth))
    for wrong in (mistake, ..., None, "nonsense", float("nan")):
        result = check(wrong)
        text = str(result)
        assert not result.passed, text
        assert "expected " in result.message and ", got " in result.message, text
        assert ". Hint: " in result.message, text
        assert text.startswith("[FAIL] ") and "\n" not in text


def test_prediction_values_are_the_ones_the_notebooks_teach():
    assert classification.reference_cost_ratio() == pytest.approx(197 / 50, rel=0.02)
    assert huggingface.reference_white_pixel() == pytest.approx((1 - 0.485) / 0.229, abs=1e-3)
    assert embeddings.reference_hidden_state_size() == 2 * 257 * 1024   # ViT-L/14 at 224 px
    assert attention.reference_uniform_weight() == pytest.approx(1 / 197)
    assert keras_vit.reference_head_parameters() == 144 * 64 * 2048 + 2048
    assert dino.reference_uniform_mass_patches() == 118
