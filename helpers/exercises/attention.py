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

from helpers.exercises import CheckResult, max_error
from helpers.exercises import failure as _failure

__all__ = [
    "reference_patchify",
    "reference_split_heads",
    "reference_attention",
    "check_patchify",
    "check_split_heads",
    "check_attention",
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
    name = "patchify"
    generator = torch.Generator().manual_seed(4)
    worst = 0.0
    for batch, channels, height, width, patch in [(2, 3, 32, 32, 16), (1, 3, 48, 64, 16),
                                                  (3, 1, 12, 8, 4)]:
        images = torch.randn(batch, channels, height, width, generator=generator,
                             dtype=torch.float64)  # (B, C, H, W)
        conv = torch.nn.Conv2d(channels, 5, kernel_size=patch, stride=patch).double()
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator,
                                          dtype=torch.float64))
            want = conv(images).flatten(2).transpose(1, 2)  # (B, N, 5)
            case = f"images {tuple(images.shape)}, patch {patch}"
            try:
                patches = fn(images.clone(), patch)
            except Exception as err:  # noqa: BLE001 - any error in the answer is a fail
                return _failure(name, err)
            size = channels * patch * patch
            expected_shape = torch.Size([batch, want.shape[1], size])
            if not isinstance(patches, torch.Tensor) or patches.shape != expected_shape:
                shape = tuple(patches.shape) if isinstance(patches, torch.Tensor) \
                    else type(patches).__name__
                return CheckResult(name, False, float("inf"), f"{case}: expected shape "
                                   f"{tuple(expected_shape)}, got {shape}")
            got = patches.double() @ conv.weight.reshape(5, -1).T + conv.bias  # (B, N, 5)
        error = max_error(name, got, want, case)
        if isinstance(error, CheckResult):
            return error
        worst = max(worst, error)
        if error > TOLERANCE:
            return CheckResult(name, False, error, f"{case}: patches in the wrong order (check "
                               "the order of patches and of values inside each patch)")
    return CheckResult(name, True, worst, "matches Conv2d(stride = patch size) on 3 cases")


def check_split_heads(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Check ``fn(x, num_heads)``: (B, N, D) -> (B, heads, N, D / heads)."""
    name = "split_heads"
    generator = torch.Generator().manual_seed(5)
    for batch, tokens, dim, heads in [(2, 5, 12, 3), (1, 197, 192, 3), (3, 4, 8, 8)]:
        x = torch.randn(batch, tokens, dim, generator=generator)  # (B, N, D)
        case = f"x {tuple(x.shape)}, {heads} heads"
        try:
            got = fn(x.clone(), heads)
        except Exception as err:  # noqa: BLE001
            return _failure(name, err)
        error = max_error(name, got, reference_split_heads(x, heads), case)
        if isinstance(error, CheckResult):
            return error
        if error > 0:
            return CheckResult(name, False, error, f"{case}: right shape, wrong values (reshape "
                               "to (B, N, heads, d) first, then swap N and heads)")
    return CheckResult(name, True, 0.0, "all 3 shapes right")


def check_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
                    ) -> CheckResult:
    """Check ``fn(q, k, v)`` -> (B, heads, N, d) against ``scaled_dot_product_attention``."""
    name = "attention"
    generator = torch.Generator().manual_seed(6)
    worst = 0.0
    for batch, heads, tokens, head_dim in [(2, 3, 7, 8), (1, 3, 197, 64), (2, 1, 5, 2)]:
        q, k, v = (torch.randn(batch, heads, tokens, head_dim, generator=generator,
                               dtype=torch.float64) * 2 for _ in range(3))  # (B, heads, N, d)
        want = torch.nn.functional.scaled_dot_product_attention(q, k, v)  # (B, heads, N, d)
        case = f"q, k, v {tuple(q.shape)}"
        try:
            got = fn(q.clone(), k.clone(), v.clone())
        except Exception as err:  # noqa: BLE001
            return _failure(name, err)
        error = max_error(name, got, want, case)
        if isinstance(error, CheckResult):
            return error
        worst = max(worst, error)
    if worst > TOLERANCE:
        return CheckResult(name, False, worst, "values differ: scale by 1/√d, softmax over the "
                           "keys (the last dimension), then multiply by v")
    return CheckResult(name, True, worst, "matches torch's scaled_dot_product_attention")
