"""helpers.keras.model and helpers.keras.training: the Keras ViT's pieces, builders and recipes."""

from __future__ import annotations

import sys
import types
from dataclasses import replace

import numpy as np
import pytest

from helpers.keras import attention as keras_attention
from helpers.keras import augment, backend, checkpoints
from helpers.keras import model as kv
from helpers.keras import training as tr
from helpers.tolerances import assert_same_maths

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api

keras, ops = kv.keras, kv.ops  # imported by helpers.keras.model after choosing the torch backend

NUM_CLASSES = 4
TINY_SEED = kv.SEED_VIT.scaled(image_size=16, patch_size=4, width=16, depth=1, heads=2,
                               key_dim=16, mlp_units=(32, 16), head_units=(32, 16))
TINY_GAP = kv.IMPROVED_VIT.scaled(width=16, depth=2, heads=2, key_dim=8, mlp_units=(32, 16),
                                  patch_size=8)
TINY_TOKEN = TINY_GAP.scaled(head="token")


def _images(n: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _numpy_patches(x: np.ndarray, p: int) -> np.ndarray:
    b, h, w, c = x.shape
    return x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5).reshape(
        b, (h // p) * (w // p), p * p * c)


# ----------------------------------------------------------------------------- backend


def test_backend_is_torch_and_another_backend_is_refused(monkeypatch):
    assert keras.backend.backend() == "torch"
    backend.ensure_torch_backend()  # the real keras: fine
    fake = types.SimpleNamespace(backend=types.SimpleNamespace(backend=lambda: "jax"))
    monkeypatch.setitem(sys.modules, "keras", fake)
    with pytest.raises(RuntimeError, match="'jax' backend"):
        backend.ensure_torch_backend()
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    with pytest.raises(RuntimeError, match="KERAS_BACKEND='tensorflow'"):
        backend.ensure_torch_backend()


# ----------------------------------------------------------------------------- patches


@pytest.mark.parametrize(("size", "patch"), [(32, 4), (72, 6), (12, 3)])
def test_patches_match_a_numpy_reshape(size, patch):
    x = np.random.default_rng(1).random((2, size, size, 3)).astype(np.float32)
    got = ops.convert_to_numpy(kv.Patches(patch)(x))  # (2, N, P)
    np.testing.assert_array_equal(got, _numpy_patches(x, patch))
    # patch 1 is the second patch of the top row, read row by row
    np.testing.assert_array_equal(got[0, 1], x[0, :patch, patch:2 * patch].reshape(-1))


def test_seed_numbers_are_144_patches_of_108_values():
    assert (kv.SEED_VIT.image_size, kv.SEED_VIT.patch_size) == (72, 6)
    assert kv.SEED_VIT.num_patches == 144 and kv.SEED_VIT.patch_values == 108
    image = np.zeros((1, 72, 72, 3), dtype=np.float32)
    assert tuple(kv.Patches(6)(image).shape) == (1, 144, 108)
    # keras-io issue 1907: the seed gives each of its 4 heads the whole width as key_dim
    assert kv.SEED_VIT.key_dim == kv.SEED_VIT.width == 64
    assert kv.IMPROVED_VIT.key_dim * kv.IMPROVED_VIT.heads == kv.IMPROVED_VIT.width


def test_patches_reject_sizes_that_do_not_split():
    with pytest.raises(ValueError, match="do not split"):
        kv.Patches(5)(np.zeros((1, 12, 12, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="patch_size"):
        kv.Patches(0)


# ----------------------------------------------------------------------------- encoder


@pytest.mark.parametrize("class_token", [False, True])
def test_patch_encoder_shapes_and_parameters(class_token):
    encoder = kv.PatchEncoder(num_patches=16, projection_dim=32, class_token=class_token)
    patches = np.random.default_rng(0).random((2, 16, 48)).astype(np.float32)
    out = ops.convert_to_numpy(encoder(patches))
    tokens = 16 + class_token
    assert out.shape == (2, tokens, 32)
    assert encoder.count_params() == 48 * 32 + 32 + tokens * 32 + 32 * class_token


def test_patch_encoder_adds_a_learned_position_to_each_patch():
    encoder = kv.PatchEncoder(num_patches=4, projection_dim=8)
    out = ops.convert_to_numpy(encoder(np.zeros((1, 4, 12), dtype=np.float32)))  # (1, 4, 8)
    positions = ops.convert_to_numpy(encoder.position_embedding.embeddings)  # (4, 8)
    bias = ops.convert_to_numpy(encoder.projection.bias)  # (8,)
    np.testing.assert_allclose(out[0], positions + bias, atol=1e-6)
    assert not np.allclose(out[0, 0], out[0, 1])  # same patch content, different position


def test_class_token_comes_first_and_is_shared_across_the_batch():
    encoder = kv.PatchEncoder(num_patches=4, projection_dim=8, class_token=True)
    patches = np.random.default_rng(2).random((3, 4, 12)).astype(np.float32)
    out = ops.convert_to_numpy(encoder(patches))  # (3, 5, 8)
    np.testing.assert_allclose(out[0, 0], out[2, 0], atol=1e-6)
    assert not np.allclose(out[0, 1], out[2, 1])


# ----------------------------------------------------------------------------- augmentation


def test_random_shift_is_a_reflected_crop_in_training_and_identity_otherwise():
    x = np.arange(2 * 6 * 6 * 1, dtype=np.float32).reshape(2, 6, 6, 1)
    layer = augment.RandomShift(2, seed=3)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x, training=False)), x)
    out = ops.convert_to_numpy(layer(x, training=True))
    padded = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect")
    for i in range(2):
        windows = [padded[i, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        assert any(np.array_equal(out[i], w) for w in windows)
    with pytest.raises(ValueError, match="max_shift"):
        augment.RandomShift(-1)


def test_augmentations_normalise_with_training_statistics():
    x = _images(16)
    aug = augment.seed_augmentation(x, image_size=72)
    out = ops.convert_to_numpy(aug(x.astype(np.float32), training=False))
    assert out.shape == (16, 72, 72, 3)
    mean = ops.convert_to_numpy(aug.layers[0].mean).reshape(-1)  # per channel
    np.testing.assert_allclose(mean, x.reshape(-1, 3).mean(0), rtol=1e-4)
    out = ops.convert_to_numpy(augment.improved_augmentation(x)(x.astype(np.float32)))
    assert out.shape == (16, 32, 32, 3)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), 0.0, atol=0.02)
    np.testing.assert_allclose(out.reshape(-1, 3).std(0), 1.0, atol=0.02)


# ----------------------------------------------------------------------------- models


def test_config_validation():
    with pytest.raises(ValueError, match="multiple of"):
        kv.SEED_VIT.scaled(image_size=70)
    with pytest.raises(ValueError, match="head must be"):
        kv.SEED_VIT.scaled(head="mean")
    with pytest.raises(ValueError, match="mlp_units must end"):
        kv.SEED_VIT.scaled(width=32)
    assert TINY_TOKEN.tokens == TINY_TOKEN.num_patches + 1 == 17


@pytest.mark.parametrize("config", [TINY_SEED, TINY_GAP, TINY_TOKEN], ids=["seed", "gap", "token"])
def test_models_build_at_small_sizes(config):
    x = _images(6)
    build = kv.build_seed_vit if config.head == "flatten" else kv.build_improved_vit
    model = build(x, NUM_CLASSES, config)
    logits = ops.convert_to_numpy(model(x, training=False))
    assert logits.shape == (6, NUM_CLASSES) and np.isfinite(logits).all()
    parts = kv.parameter_breakdown(model)
    assert sum(parts.values()) == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert len(keras_attention.attention_layer_names(model)) == config.depth


def test_seed_head_holds_almost_all_parameters():
    model = kv.build_seed_vit(_images(4), 100)  # the real seed architecture
    parts = kv.parameter_breakdown(model)
    flat = 144 * 64
    assert parts["head"] == (flat * 2048 + 2048) + (2048 * 1024 + 1024) + (1024 * 100 + 100) \
        + 2 * 64  # + the head's LayerNorm
    assert parts["head"] / sum(parts.values()) > 0.95


def test_improved_builder_refuses_seed_choices():
    x = _images(2)
    with pytest.raises(ValueError, match="key_dim must be width / heads"):
        kv.build_improved_vit(x, NUM_CLASSES, TINY_GAP.scaled(key_dim=16))
    with pytest.raises(ValueError, match="'gap' or 'token'"):
        kv.build_improved_vit(x, NUM_CLASSES, TINY_GAP.scaled(head="flatten"))
    with pytest.raises(ValueError, match="input_size"):
        kv.build_seed_vit(np.zeros((2, 28, 28, 3), np.uint8), NUM_CLASSES, TINY_SEED)


@pytest.mark.parametrize("config", [TINY_GAP, TINY_TOKEN], ids=["gap", "token"])
def test_attention_scores_come_from_the_layer_and_match_a_recomputation(config):
    x = _images(3)
    model = kv.build_improved_vit(x, NUM_CLASSES, config)
    scores = keras_attention.attention_scores(model, x, block=-1)  # (B, heads, T, T)
    assert scores.shape == (3, config.heads, config.tokens, config.tokens)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    # recompute softmax(q k^T / sqrt(d)) from the layer's own weights
    name = keras_attention.attention_layer_names(model)[-1]
    upto = keras.Model(model.input, model.get_layer(name.replace("attention", "norm1")).output)
    x1 = ops.convert_to_numpy(upto(x, training=False))  # (B, T, D)
    mha = model.get_layer(name)
    q_kernel, q_bias = (ops.convert_to_numpy(w) for w in mha.query_dense.weights)  # (D, H, d)
    k_kernel, k_bias = (ops.convert_to_numpy(w) for w in mha.key_dense.weights)
    q = np.einsum("btd,dhk->bthk", x1, q_kernel) + q_bias  # (B, T, H, d)
    k = np.einsum("btd,dhk->bthk", x1, k_kernel) + k_bias
    logits = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(config.key_dim)  # (B, H, T, T)
    manual = np.exp(logits - logits.max(-1, keepdims=True))
    manual /= manual.sum(-1, keepdims=True)
    assert_same_maths(scores, manual)  # keras' einsum kernels vs numpy's
    with pytest.raises(ValueError, match="block must be"):
        keras_attention.attention_scores(model, x, block=config.depth)


# ----------------------------------------------------------------------------- training


def _separable_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is the brightest quarter: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % NUM_CLASSES
    x = rng.integers(0, 60, size=(n, 32, 32, 3)).astype(np.uint8)
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] += 180
    return x, y.astype(np.int64)


@pytest.mark.parametrize("which", ["seed", "improved"])
def test_a_few_training_steps_lower_the_loss(which, tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _separable_data(64)
    xv, yv = _separable_data(16, seed=1)
    if which == "seed":
        model, recipe = kv.build_seed_vit(x, NUM_CLASSES, TINY_SEED), tr.SEED_RECIPE
    else:
        model, recipe = kv.build_improved_vit(x, NUM_CLASSES, TINY_GAP), tr.IMPROVED_RECIPE
    recipe = replace(recipe, batch_size=16)
    before = tr.scores(tr.predict_logits(model, x), y)["cross-entropy"]
    checkpoint = tmp_path / "best.weights.h5"
    history = tr.train(model, recipe, x, y, xv, yv, epochs=2, checkpoint=checkpoint,
                       num_classes=NUM_CLASSES, verbose=0)
    after = tr.scores(tr.predict_logits(model, x), y)["cross-entropy"]
    assert checkpoint.is_file()
    assert len(history["val_accuracy"]) == 2
    assert after < before - 0.05, (before, after)


def test_train_restores_the_best_validation_epoch(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _separable_data(48)
    model = kv.build_improved_vit(x, NUM_CLASSES, TINY_GAP)
    history = tr.train(model, tr.TrainingRecipe("t", 1e-3, 0.0, 16), x, y, x[:32], y[:32], epochs=3,
                       checkpoint=tmp_path / "b.weights.h5", num_classes=NUM_CLASSES, verbose=0)
    restored = tr.scores(tr.predict_logits(model, x[:32]), y[:32])["accuracy"]
    assert restored == pytest.approx(max(history["val_accuracy"]), abs=1e-6)
    assert history["updates"] == [3, 6, 9]           # 48 images / 16 per update, epoch by epoch
    with pytest.raises(ValueError, match=".weights.h5"):
        tr.train(model, tr.SEED_RECIPE, x, y, x, y, 1, tmp_path / "b.h5", NUM_CLASSES)


class _StopAfter(keras.callbacks.Callback):
    """Raise KeyboardInterrupt at the end of an epoch, as a student stopping the kernel."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


class _StartSpy(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = [np.array(w) for w in self.model.get_weights()]
        self.iterations = int(self.model.optimizer.iterations.numpy())
        self.moments = [np.array(v) for v in self.model.optimizer.variables
                        if "momentum" in v.path or "velocity" in v.path]


def test_interrupted_training_resumes_from_its_best_checkpoint(tmp_path):
    import json

    keras.utils.set_random_seed(0)
    x, y = _separable_data(48)
    xv, yv = _separable_data(16, seed=1)
    recipe = replace(tr.IMPROVED_RECIPE, batch_size=16)
    checkpoint = tmp_path / "run.weights.h5"
    first = kv.build_improved_vit(x, NUM_CLASSES, TINY_GAP)
    with pytest.raises(KeyboardInterrupt):
        tr.train(first, recipe, x, y, xv, yv, epochs=5, checkpoint=checkpoint,
                 num_classes=NUM_CLASSES, callbacks=[_StopAfter(2)], verbose=0)
    record = json.loads(checkpoints.checkpoint_record(checkpoint).read_text())
    assert 1 <= record["epochs_done"] <= 3 and record["monitor"] == "val_accuracy"

    saved = kv.build_improved_vit(x, NUM_CLASSES, TINY_GAP)
    saved.load_weights(str(checkpoint))
    keras.utils.set_random_seed(1)  # the new model starts from different weights
    second = kv.build_improved_vit(x, NUM_CLASSES, TINY_GAP)
    spy = _StartSpy()
    history = tr.train(second, recipe, x, y, xv, yv, epochs=5, checkpoint=checkpoint,
                       num_classes=NUM_CLASSES, callbacks=[spy], verbose=0, resume=True)

    for got, want in zip(spy.weights, saved.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert spy.iterations == record["epochs_done"] * 3  # 48 images / 16 per step
    assert spy.moments and all(np.abs(m).sum() > 0 for m in spy.moments)  # AdamW state restored
    assert len(history["val_accuracy"]) == 5 - record["epochs_done"]
    restored = tr.scores(tr.predict_logits(second, xv), yv)["accuracy"]
    assert restored == pytest.approx(max([record["best"], *history["val_accuracy"]]), abs=1e-6)


def test_resume_without_a_usable_checkpoint_says_what_to_do(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _separable_data(32)
    recipe = replace(tr.IMPROVED_RECIPE, batch_size=16)
    checkpoint = tmp_path / "run.weights.h5"
    model = kv.build_improved_vit(x, NUM_CLASSES, TINY_GAP)

    def resume(m, **kwargs):
        return tr.train(m, recipe, x, y, x, y, epochs=2, checkpoint=checkpoint,
                        num_classes=NUM_CLASSES, verbose=0, resume=True, **kwargs)

    with pytest.raises(ValueError, match="run.weights.h5.*resume=False"):
        resume(model)
    tr.train(model, recipe, x, y, x, y, epochs=1, checkpoint=checkpoint,
             num_classes=NUM_CLASSES, verbose=0)
    with pytest.raises(ValueError, match="TimeBudget"):
        resume(model, callbacks=[tr.TimeBudget(1, x, y)])
    other = kv.build_improved_vit(x, NUM_CLASSES, TINY_TOKEN)
    with pytest.raises(ValueError, match="does not fit this model"):
        resume(other)
    checkpoints.checkpoint_record(checkpoint).write_text("{not json")
    with pytest.raises(ValueError, match="not a checkpoint record"):
        resume(model)
    tr.train(model, recipe, x, y, x, y, epochs=1, checkpoint=checkpoint,
             num_classes=NUM_CLASSES, verbose=0)
    assert checkpoints.checkpoint_record(checkpoint).is_file()  # a fresh run writes a new record


def test_micro_batches_give_the_same_update_as_whole_batches(tmp_path):
    """Accumulating 4 micro-batches of 8 = one batch of 32 (no augmentation, no dropout)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=32)
    recipe = tr.TrainingRecipe("t", 1e-2, 0.0, 32)
    start = keras.Sequential([keras.Input((6,)), keras.layers.Dense(NUM_CLASSES)])
    weights = {}
    for micro in (None, 8):
        model = keras.models.clone_model(start)
        model.set_weights(start.get_weights())
        history = tr.train(model, recipe, x, y, x, y, epochs=1,
                           checkpoint=tmp_path / "m.weights.h5", num_classes=NUM_CLASSES,
                           verbose=0, micro_batch=micro)
        assert int(model.optimizer.iterations.numpy()) == 1  # one update either way
        assert history["updates"] == [1]                        # ... and train() reports it
        weights[micro] = model.get_weights()
    for whole, accumulated, before in zip(weights[None], weights[8], start.get_weights(),
                                          strict=True):
        assert np.abs(whole - before).max() > 1e-3  # the update is not nothing
        # 4 gradient sums of 8 vs one of 32: another order of float32 additions
        assert_same_maths(accumulated, whole)
    with pytest.raises(ValueError, match="micro_batch must divide the recipe's batch size 32"):
        tr.train(start, recipe, x, y, x, y, epochs=1, checkpoint=tmp_path / "m.weights.h5",
                 num_classes=NUM_CLASSES, micro_batch=5)


def test_smoothed_loss_equals_sparse_crossentropy_without_smoothing():
    logits = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2])
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    ours = tr.SparseSmoothedCrossentropy(4, 0.0)(labels, logits)
    assert float(ours) == pytest.approx(float(plain), abs=1e-6)
    eps = 0.1
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    target = np.full((5, 4), eps / 4)
    target[np.arange(5), labels] += 1 - eps
    manual = -(target * log_p).sum(1).mean()
    assert float(tr.SparseSmoothedCrossentropy(4, eps)(labels, logits)) == pytest.approx(
        manual, abs=1e-5)


def test_schedule_warms_up_then_decays_to_zero():
    assert tr.learning_rate_schedule(tr.SEED_RECIPE, 100) == 1e-3
    schedule = tr.learning_rate_schedule(tr.IMPROVED_RECIPE, 100)  # 10 warmup steps
    values = [float(ops.convert_to_numpy(schedule(s))) for s in range(101)]
    assert values[0] == 0.0 and values[10] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(values[:10], values[1:11], strict=True))
    assert all(a >= b for a, b in zip(values[10:-1], values[11:], strict=True))
    assert values[100] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="schedule"):
        tr.TrainingRecipe("x", 1e-3, 0.0, 8, schedule="step")


def test_scores_by_hand():
    logits = np.array([[3.0, 2, 1, 0, -1, -2], [0, 1, 2, 3, 4, 5]])
    got = tr.scores(logits, np.array([0, 0]))
    assert got["accuracy"] == 0.5 and got["top-5-accuracy"] == 0.5
    with pytest.raises(ValueError, match="logits must be"):
        tr.scores(logits, np.array([0]))


def test_time_budget_stops_training_and_evaluates_at_each_mark(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _separable_data(32)
    model = kv.build_improved_vit(x, NUM_CLASSES, TINY_GAP)
    budget = tr.TimeBudget(1.0, x[:8], y[:8], evaluations=3, recipe=tr.IMPROVED_RECIPE,
                           steps_per_epoch=2)
    history = tr.train(model, replace(tr.IMPROVED_RECIPE, batch_size=16), x, y, x[:8], y[:8],
                       epochs=100_000, checkpoint=tmp_path / "t.weights.h5",
                       num_classes=NUM_CLASSES, callbacks=[budget], verbose=0)
    assert len(history["loss"]) < 100_000  # stopped by the budget
    assert [r["mark"] for r in budget.records] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert all(r["seconds"] >= r["mark"] for r in budget.records)
    assert budget.records[-1]["steps"] >= 1
    # the time-driven schedule has moved the learning rate off its start value
    final_rate = float(ops.convert_to_numpy(model.optimizer.learning_rate))
    assert final_rate != tr.IMPROVED_RECIPE.learning_rate


def test_seed_builder_can_swap_only_the_head():
    x = _images(4)
    flat = kv.build_seed_vit(x, NUM_CLASSES, TINY_SEED)
    pooled = kv.build_seed_vit(x, NUM_CLASSES, TINY_SEED.scaled(head="gap", head_units=()))
    a, b = kv.parameter_breakdown(flat), kv.parameter_breakdown(pooled)
    assert a["blocks"] == b["blocks"] and a["patch encoder"] == b["patch encoder"]
    assert b["head"] == 2 * 16 + 16 * NUM_CLASSES + NUM_CLASSES  # LayerNorm + logits
    assert ops.convert_to_numpy(pooled(x, training=False)).shape == (4, NUM_CLASSES)


def test_benchmark_table_has_a_row_per_time_mark_and_the_restored_scores():
    from script_loader import load_script

    bench = load_script("bench_keras_recipes")

    def records(accuracies):
        return [{"mark": 30.0 * (i + 1), "seconds": 30.0 * (i + 1) + 1, "epochs": 0.5 * (i + 1),
                 "accuracy": a, "top-5-accuracy": 0.9} for i, a in enumerate(accuracies)]

    results = {"faithful": {"records": records([0.1, 0.2]), "best": {"accuracy": 0.2,
                                                                     "top-5-accuracy": 0.6}},
               "improved": {"records": records([0.3, 0.4]), "best": {"accuracy": 0.45,
                                                                     "top-5-accuracy": 0.9}}}
    lines = bench.markdown_table(results).splitlines()
    assert len(lines) == 2 + 2 + 1  # header, separator, 2 marks, best checkpoint
    assert lines[2].startswith("| 0.5 | 0.5 | 10.0% | 90.0% | 0.5 | 30.0% |")
    assert lines[-1] == "| best checkpoint |  | 20.0% | 60.0% |  | 45.0% | 90.0% |"


def test_improved_recipe_keeps_biases_norms_and_embeddings_out_of_weight_decay():
    model = kv.build_improved_vit(_images(4), NUM_CLASSES, TINY_TOKEN)
    tr.compile_recipe(model, tr.IMPROVED_RECIPE, NUM_CLASSES, total_steps=10)
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed and all(path.endswith("kernel") for path in decayed)
    assert any(path.startswith("patch_encoder") for path in decayed)  # the patch projection
    kept = {v.path for v in model.trainable_variables} - decayed
    assert any(path.endswith("embeddings") for path in kept)
    assert any(path.endswith("class_token") for path in kept)
