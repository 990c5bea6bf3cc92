"""Exercises of notebook 04 (a ViT computed by hand): checks and reference solutions.

A check never trusts the answer: it calls it on inputs it makes itself (seeded, several
shapes), compares with an independent reference (PyTorch's own ``Conv2d``,
``scaled_dot_product_attention``), and returns a :class:`~helpers.exercises.CheckResult`.
Exceptions raised by the answer become a failing result.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from helpers.exercises import (
    Case,
    CheckResult,
    WrongAnswer,
    check_prediction,
    require_close,
    run_check,
    shape_of,
    tensor_error,
)

__all__ = [
    "reference_patchify",
    "reference_split_heads",
    "reference_attention",
    "check_patchify",
    "check_split_heads",
    "check_attention",
    "reference_uniform_weight",
    "check_uniform_weight",
]

#: Largest error a right answer may have: inputs are float64, so a right answer is off by ~1e-14
#: and a wrong one by far more.
TOLERANCE = 1e-6


# ----------------------------------------------------------------------------- solutions


def reference_patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut (B, C, H, W) images into P x P patches: (B, N, C·P·P), patches row by row.

    Each row is ordered channel, pixel row, pixel column, like ``conv.weight.reshape(D, -1)``,
    so ``patchify(x, P) @ conv.weight.reshape(D, -1).T + conv.bias`` is the patch embedding.
    """
    b, c, h, w = images.shape
    p = patch_size
    x = images.reshape(b, c, h // p, p, w // p, p)  # (B, C, rows, P, cols, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, rows, cols, C, P, P)
    return x.reshape(b, (h // p) * (w // p), c * p * p)  # (B, N, C·P·P)


def reference_split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, D) -> (B, heads, N, D / heads): head h gets features h·d ... (h+1)·d - 1."""
    b, n, d = x.shape
    return x.reshape(b, n, num_heads, d // num_heads).transpose(1, 2)  # (B, heads, N, d)


def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention: ``softmax(q · kᵀ / √d) · v``.

    Args:
        q, k, v: (B, heads, N, d).

    Returns:
        (B, heads, N, d).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, heads, N, N)
    return scores.softmax(dim=-1) @ v  # (B, heads, N, d)


# ----------------------------------------------------------------------------- checks


def check_patchify(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Check ``fn(images, patch_size)`` -> (B, N, C·P·P).

    The right answer, multiplied by a random ``Conv2d``'s reshaped weights, must give that
    convolution's output: so the patch order and the order inside each patch both matter.
    """
    generator = torch.Generator().manual_seed(4)

    def cases():
        for batch, channels, height, width, patch in [(2, 3, 32, 32, 16), (1, 3, 48, 64, 16),
                                                      (3, 1, 12, 8, 4)]:
            images = torch.randn(batch, channels, height, width, generator=generator,
                                 dtype=torch.float64)  # (B, C, H, W)
            conv = torch.nn.Conv2d(channels, 5, kernel_size=patch, stride=patch).double()
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator,
                                              dtype=torch.float64))
            yield Case(f"images {tuple(images.shape)}, patch {patch}", (images, patch), conv)

    @torch.no_grad()
    def judge(case: Case, patches: torch.Tensor) -> float:
        images, patch = case.args
        conv = case.want
        want = conv(images).flatten(2).transpose(1, 2)  # (B, N, 5)
        shape = (images.shape[0], want.shape[1], images.shape[1] * patch * patch)
        if shape_of(patches) != shape:
            raise WrongAnswer(f"shape {shape}", f"{shape_of(patches)}",
                              "N patches of C·P·P values each, patches first")
        got = patches.double() @ conv.weight.reshape(5, -1).T + conv.bias  # (B, N, 5)
        return require_close(tensor_error(got, want), TOLERANCE,
                             "patches in the wrong order: check the order of patches and of "
                             "values inside each patch")

    return run_check("patchify", fn, cases(), judge,
                     "matches Conv2d(stride = patch size) on 3 cases")


def check_split_heads(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Check ``fn(x, num_heads)``: (B, N, D) -> (B, heads, N, D / heads)."""
    generator = torch.Generator().manual_seed(5)
    cases = [Case(f"x {(batch, tokens, dim)}, {heads} heads",
                  (torch.randn(batch, tokens, dim, generator=generator), heads))
             for batch, tokens, dim, heads in [(2, 5, 12, 3), (1, 197, 192, 3), (3, 4, 8, 8)]]

    def judge(case: Case, got: torch.Tensor) -> float:
        return require_close(tensor_error(got, reference_split_heads(*case.args)), 0.0,
                             "reshape to (B, N, heads, d) first, then swap N and heads")

    return run_check("split_heads", fn, cases, judge, "all 3 shapes right")


def check_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
                    ) -> CheckResult:
    """Check ``fn(q, k, v)`` -> (B, heads, N, d) against ``scaled_dot_product_attention``."""
    generator = torch.Generator().manual_seed(6)
    cases = []
    for batch, heads, tokens, head_dim in [(2, 3, 7, 8), (1, 3, 197, 64), (2, 1, 5, 2)]:
        q, k, v = (torch.randn(batch, heads, tokens, head_dim, generator=generator,
                               dtype=torch.float64) * 2 for _ in range(3))  # (B, heads, N, d)
        cases.append(Case(f"q, k, v {tuple(q.shape)}", (q, k, v)))

    def judge(case: Case, got: torch.Tensor) -> float:
        want = torch.nn.functional.scaled_dot_product_attention(*case.args)  # (B, heads, N, d)
        return require_close(tensor_error(got, want), TOLERANCE,
                             "scale by 1/√d, softmax over the keys (the last dimension), then "
                             "multiply by v")

    return run_check("attention", fn, cases, judge,
                     "matches torch's scaled_dot_product_attention")


# ----------------------------------------------------------------------------- predict, then verify


def reference_uniform_weight() -> float:
    """The attention weight each of 197 tokens gets when all their keys are the same vector."""
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(1, 1, 197, 64, generator=generator)  # (B, heads, N, d)
    k = torch.randn(1, 1, 1, 64, generator=generator).expand(1, 1, 197, 64)  # one key, 197 times
    weights = (q @ k.transpose(-2, -1) / math.sqrt(64)).softmax(dim=-1)  # (1, 1, N, N)
    return float(weights[0, 0, 0, 0])


def check_uniform_weight(prediction: float) -> CheckResult:
    """Predict, then verify: each token's weight when all 197 keys are equal."""
    return check_prediction(
        "uniform_weight", prediction, reference_uniform_weight(), 0.02,
        "every score q·k is the same, so softmax spreads the weight evenly: the 197 weights of a "
        "row sum to 1, whatever the query", what="the weight of each token")
