"""Exercises of notebook 06 (a Keras ViT trained from scratch): checks and reference solutions.

A check never trusts the answer: it calls it on inputs it makes itself and compares with
Keras's own result. Exceptions raised by the answer become a failing result.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from helpers.exercises import (
    Case,
    CheckResult,
    WrongAnswer,
    check_prediction,
    require_close,
    require_equal,
    run_check,
)

__all__ = [
    "reference_numpy_patchify",
    "reference_attention_parameters",
    "reference_warmup_cosine",
    "check_numpy_patchify",
    "check_attention_parameters",
    "check_warmup_cosine",
    "reference_head_parameters",
    "check_head_parameters",
]


# ----------------------------------------------------------------------------- solutions


def reference_numpy_patchify(images: np.ndarray, patch_size: int) -> np.ndarray:
    """Cut (B, H, W, C) images into (B, N, p*p*C) patches with NumPy alone.

    Patches are numbered row by row; inside a patch the pixels go row by row too, with
    the channels of a pixel side by side (the order ``keras.ops.image.extract_patches``
    uses).
    """
    b, h, w, c = images.shape
    p = patch_size
    grid = images.reshape(b, h // p, p, w // p, p, c)  # (B, h, p, w, p, C)
    grid = grid.transpose(0, 1, 3, 2, 4, 5)  # (B, h, w, p, p, C)
    return grid.reshape(b, (h // p) * (w // p), p * p * c)  # (B, N, p*p*C)


def reference_attention_parameters(width: int, heads: int, key_dim: int) -> int:
    """Trainable parameters of ``MultiHeadAttention(heads, key_dim)`` on width-wide tokens.

    Query, key and value each map width -> heads x key_dim (weights and biases); the
    output maps heads x key_dim back to width.
    """
    inner = heads * key_dim
    return 3 * (width * inner + inner) + (inner * width + width)


def reference_warmup_cosine(step: int, total_steps: int, peak: float, warmup_steps: int
                            ) -> float:
    """Learning rate at ``step``: linear warmup from 0 to ``peak``, then cosine decay to 0.

    The cosine covers the ``total_steps - warmup_steps`` steps after the warmup.
    """
    if step < warmup_steps:
        return peak * step / warmup_steps
    decay_steps = total_steps - warmup_steps
    progress = min(step - warmup_steps, decay_steps) / decay_steps
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------- checks


def _keras():
    """keras and keras.ops, imported through helpers.keras.model (which picks the torch backend)."""
    from helpers.keras import model as keras_vit

    return keras_vit.keras, keras_vit.ops


def check_numpy_patchify(fn: Callable[[np.ndarray, int], np.ndarray]) -> CheckResult:
    """Check ``fn(images, patch_size)`` against ``keras.ops.image.extract_patches``."""
    _, ops = _keras()
    rng = np.random.default_rng(0)
    cases = []
    for shape, p in [((2, 12, 12, 3), 4), ((1, 72, 72, 3), 6), ((3, 8, 16, 1), 2)]:
        images = rng.random(shape).astype(np.float32)  # (B, H, W, C)
        want = ops.convert_to_numpy(ops.image.extract_patches(images, p))  # (B, h, w, P)
        want = want.reshape(shape[0], -1, want.shape[-1])  # (B, N, P)
        cases.append(Case(f"images {shape}, patch {p}", (images, p), want))

    def judge(case: Case, got: np.ndarray) -> float:
        want = case.want  # (B, N, P)
        got = np.asarray(got)
        if got.shape != want.shape:
            raise WrongAnswer(f"shape {want.shape}", f"{got.shape}",
                              "N patches of p·p·C values each, patches first")
        return require_close(float(np.abs(got - want).max()), 1e-6,
                             "values in the wrong order: reshape to (B, h, p, w, p, C), then "
                             "move the two patch-grid axes next to each other before flattening")

    return run_check("patchify", fn, cases, judge, "matches extract_patches")


def check_attention_parameters(fn: Callable[[int, int, int], int]) -> CheckResult:
    """Check ``fn(width, heads, key_dim)`` against a built ``MultiHeadAttention`` layer."""
    keras, _ = _keras()
    layers = [(64, 4, 64), (64, 4, 16), (128, 4, 32), (192, 3, 64), (10, 2, 7)]

    def cases():
        for width, heads, key_dim in layers:
            layer = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim)
            x = np.zeros((1, 3, width), dtype=np.float32)  # (1, 3, width)
            layer(x, x)
            yield Case(f"width {width}, {heads} heads, key_dim {key_dim}",
                       (width, heads, key_dim), layer.count_params())

    def judge(case: Case, got: int) -> float:
        return require_equal(got, case.want,
                             "q, k and v each map width -> heads × key_dim, the output maps it "
                             "back: count the biases too")

    return run_check("attention_parameters", fn, cases(), judge,
                     f"all {len(layers)} layers counted right")


def check_warmup_cosine(fn: Callable[[int, int, float, int], float]) -> CheckResult:
    """Check ``fn(step, total_steps, peak, warmup_steps)`` against Keras's ``CosineDecay``."""
    keras, ops = _keras()

    def cases():
        for total, peak, warmup in [(100, 1e-3, 10), (1000, 3e-4, 50), (37, 1.0, 5)]:
            schedule = keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=total - warmup, alpha=0.0, warmup_target=peak,
                warmup_steps=warmup)
            for step in sorted({0, 1, warmup // 2, warmup, warmup + 1, total // 2, total - 1,
                                total}):
                yield Case(f"step {step} of {total} (warmup {warmup}, peak {peak:g})",
                           (step, total, peak, warmup), float(ops.convert_to_numpy(schedule(step))))

    def judge(case: Case, got: float) -> float:
        peak, want = case.args[2], case.want
        hint = ("rise linearly from 0 to peak over the warmup steps, then follow a cosine from "
                "peak to 0 over the total_steps - warmup_steps steps after them")
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise WrongAnswer(f"{want:.6g}", repr(got), hint) from None
        error = abs(got - want) / peak
        if not error <= 1e-5:
            raise WrongAnswer(f"{want:.6g}", f"{got:.6g}", hint, error)
        return error

    return run_check("warmup_cosine", fn, cases(), judge, "matches keras CosineDecay with warmup")


# ----------------------------------------------------------------------------- predict, then verify


def reference_head_parameters() -> int:
    """Parameters of the seed head's first Dense layer, built on the seed's flattened tokens."""
    from helpers.keras.model import SEED_VIT

    keras, _ = _keras()
    tokens = (SEED_VIT.image_size // SEED_VIT.patch_size) ** 2  # 144
    dense = keras.layers.Dense(SEED_VIT.head_units[0])
    dense.build((None, tokens * SEED_VIT.width))  # Flatten: 144 tokens x 64 = 9,216 inputs
    return int(dense.count_params())


def check_head_parameters(prediction: int) -> CheckResult:
    """Predict, then verify: the parameters of the seed's Flatten -> Dense(2048) layer."""
    return check_prediction(
        "head_parameters", prediction, reference_head_parameters(), 0.05,
        "Flatten turns 144 tokens of width 64 into 9,216 numbers; a Dense layer has one weight per "
        "input and output, plus one bias per output", what="Dense(2048)'s parameters")
