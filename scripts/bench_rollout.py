"""Benchmark: attention rollout of a batch, vectorised (helpers.maps.rollout) against a
per-image loop.

The input is a ViT-B-sized attention stack: 12 layers of (32 images, 12 heads, 197, 197) random
attention probabilities (about 0.7 GB in float32). Three ways to get every image's class-token row:

- **per-image loop**: vit-explain's structure (one image at a time, ``result = a @ result`` per
  layer), with :mod:`helpers.maps.rollout`'s definitions (rows normalised with ``keepdim=True``, the
  class token's row and column never discarded) so that the results can be compared;
- **vectorised**: :func:`helpers.maps.rollout.attention_rollout` on the whole batch;
- **fused per layer, class-token row only** (a suggested variant): each layer's heads are fused
  *before* the layers are stacked (``helpers.maps.rollout`` stacks the full (L, B, heads, N, N)
  input first, a copy as large as the input), and the product is taken from the left as a batch
  of row vectors, ``e₀ᵀ · A_12 ⋯ A_1`` (L vector-matrix products instead of L matrix products),
  since the rollout only ever reads row 0.

All three must agree (asserted). Prints a Markdown table of median times. Times depend on the
machine and its load; compare runs made on the same quiet machine.

Usage: python scripts/bench_rollout.py [--batch 32] [--layers 12] [--heads 12] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.maps.rollout import attention_rollout, fuse_heads  # noqa: E402


def loop_rollout(attentions: list[torch.Tensor], head_fusion: str, discard_ratio: float
                 ) -> torch.Tensor:
    """One image and one layer at a time, as vit-explain's ``rollout`` runs.

    Args:
        attentions: One (B, heads, N, N) tensor per layer.

    Returns:
        (B, N - 1) class-token rows.
    """
    batch, n = attentions[0].shape[0], attentions[0].shape[-1]
    eye = torch.eye(n)
    rows = []
    for b in range(batch):
        result = eye
        for attention in attentions:
            fused = fuse_heads(attention[b], head_fusion).clone()  # (N, N)
            count = int(n * n * discard_ratio)
            if count:
                inner = fused[1:, 1:].flatten()  # everything outside the class token's row/column
                lowest = inner.topk(min(count, inner.numel()), largest=False).indices
                inner[lowest] = 0
                fused[1:, 1:] = inner.view(n - 1, n - 1)
            a = (fused + eye) / 2
            a = a / a.sum(dim=-1, keepdim=True)
            result = a @ result  # the later layer on the left
        rows.append(result[0, 1:])
    return torch.stack(rows)  # (B, N - 1)


def cls_row_rollout(attentions: list[torch.Tensor], head_fusion: str, discard_ratio: float
                    ) -> torch.Tensor:
    """Vectorised over the batch, heads fused layer by layer, reading only row 0.

    Returns:
        (B, N - 1) class-token rows.
    """
    fused = torch.stack([fuse_heads(a, head_fusion) for a in attentions])  # (L, B, N, N)
    n = fused.shape[-1]
    count = int(n * n * discard_ratio)
    if count:
        inner = fused[..., 1:, 1:].flatten(-2)  # (L, B, (N-1)²)
        lowest = inner.topk(min(count, inner.shape[-1]), dim=-1, largest=False).indices
        fused[..., 1:, 1:] = inner.scatter(-1, lowest, 0.0).view(*fused.shape[:-2], n - 1, n - 1)
    a = fused + torch.eye(n)  # halving cancels in the row normalisation
    a = a / a.sum(dim=-1, keepdim=True)  # (L, B, N, N)
    row = torch.zeros(fused.shape[1], 1, n)  # (B, 1, N)
    row[..., 0] = 1.0
    for layer in reversed(a):  # e₀ᵀ · A_L ⋯ A_1
        row = row @ layer  # (B, 1, N)
    return row[:, 0, 1:]  # (B, N - 1)


def median_ms(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=197)
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing (median)")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, args.heads, args.tokens, args.tokens)
    attentions = [(torch.randn(shape, generator=generator) * 2).softmax(dim=-1)
                  for _ in range(args.layers)]  # L x (B, heads, N, N)

    rows = []
    for fusion, ratio in [("mean", 0.0), ("max", 0.9)]:
        loop_ms, loop_out = median_ms(lambda f=fusion, r=ratio: loop_rollout(attentions, f, r),
                                      max(1, args.repeats // 2))
        vec_ms, vec_out = median_ms(
            lambda f=fusion, r=ratio: attention_rollout(attentions, f, r), args.repeats)
        row_ms, row_out = median_ms(
            lambda f=fusion, r=ratio: cls_row_rollout(attentions, f, r), args.repeats)
        torch.testing.assert_close(vec_out, loop_out, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(row_out, loop_out, rtol=1e-4, atol=1e-7)
        rows.append((f"{fusion} fusion, discard {ratio}", loop_ms, vec_ms, row_ms))

    print(f"CPU, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}; "
          f"{args.layers} layers of {shape}; median of {args.repeats} runs "
          f"({max(1, args.repeats // 2)} for the loop); all three results equal\n")
    print("| setting | per-image loop (ms) | vectorised (ms) | speed-up | "
          "fused per layer, CLS row only (ms) | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, loop_ms, vec_ms, row_ms in rows:
        print(f"| {label} | {loop_ms:.0f} | {vec_ms:.0f} | {loop_ms / vec_ms:.1f}x | "
              f"{row_ms:.0f} | {loop_ms / row_ms:.1f}x |")


if __name__ == "__main__":
    main()
