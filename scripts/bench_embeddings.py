"""Benchmark: batched embedding extraction vs the seed's one-image-at-a-time loop.

Both embed the same 64 images (crops and flips of the package-shipped sample photos) with
the same model and the same preprocessing, and must give the same class-token embeddings
(``allclose``). The seed's loop preprocesses one photo, runs ``model.vit`` on a batch of one
under ``torch.no_grad()`` with the attention the model was loaded with (eager), and keeps
``last_hidden_state[:, 0]``. :func:`helpers.models.embeddings.extract_embeddings` runs batches
under ``torch.inference_mode()`` with fused attention.

Prints a Markdown table: median images/s over ``--repeats`` runs, and the speed-up.

Usage: python scripts/bench_embeddings.py [--library transformers] [--repeats 3]
       [--batch-size 32] [--images 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.data.images import sample_images  # noqa: E402
from helpers.models import LoadedModel, load  # noqa: E402
from helpers.models.embeddings import extract_embeddings, token_states  # noqa: E402


def bench_images(count: int) -> list[Image.Image]:
    """``count`` distinct photos: deterministic crops (and mirror images) of the samples."""
    photos = list(sample_images().values())
    images = []
    for i in range(count):
        photo = photos[i % len(photos)]
        step = i // len(photos)
        w, h = photo.size
        margin = 0.04 * (step % 5)
        box = (int(margin * w), int(margin * h), int((1 - margin / 2) * w), int((1 - margin) * h))
        crop = photo.crop(box)
        images.append(ImageOps.mirror(crop) if step % 2 else crop)
    return images


def seed_loop(loaded: LoadedModel, images: list[Image.Image]) -> torch.Tensor:
    """The seed's way: one image per forward pass. Returns (N, D) class-token embeddings."""
    rows = []
    for image in images:
        pixel_values = loaded.preprocess(image).unsqueeze(0)  # (1, 3, H, W)
        with torch.no_grad():
            rows.append(token_states(loaded.model, pixel_values).states[:, 0])  # (1, D)
    return torch.cat(rows)  # (N, D)


def timed(fn, repeats: int) -> tuple[float, torch.Tensor]:
    """Median seconds of ``repeats`` runs after one warm-up, and the last result."""
    result = fn()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", default="transformers",
                        choices=["torchvision", "transformers", "timm"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=64)
    args = parser.parse_args()

    loaded = load(args.library, device="cpu")
    images = bench_images(args.images)
    seed_s, seed_emb = timed(lambda: seed_loop(loaded, images), args.repeats)
    ours_s, ours = timed(lambda: extract_embeddings(loaded, images, batch_size=args.batch_size,
                                                    progress=False), args.repeats)
    assert torch.allclose(ours.cls, seed_emb, atol=1e-4, rtol=1e-4), \
        f"embeddings differ by {(ours.cls - seed_emb).abs().max():.2e}"
    n = len(images)
    print(loaded.describe())
    print(f"{n} images, CPU, {torch.get_num_threads()} threads, median of {args.repeats} runs "
          f"after a warm-up; max |difference| {(ours.cls - seed_emb).abs().max():.1e}; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| method | images/s | seconds | speed-up |")
    print("|---|---:|---:|---:|")
    print(f"| seed loop (1 image per pass, no_grad, eager attention) | {n / seed_s:.1f} | "
          f"{seed_s:.2f} | 1.00x |")
    print(f"| helpers.models.embeddings.extract_embeddings (batch {args.batch_size}, "
          f"inference_mode, fused attention) | {n / ours_s:.1f} | {ours_s:.2f} | "
          f"{seed_s / ours_s:.2f}x |")


if __name__ == "__main__":
    main()
