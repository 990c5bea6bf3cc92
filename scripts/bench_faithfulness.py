"""Benchmark: deletion curves batched (helpers.maps.faithfulness) against a per-step loop, and the
seconds per image of every explanation method of notebook 08.

Curves: ``--images`` photos (the package-shipped samples, then CIFAR-10 test images if more are
asked for), ``--maps`` maps each (random orders), ``--steps`` steps. Three ways to get the same
deletion curves:

- **per-step loop**: one forward pass of one perturbed image per step, image and map, as a
  first implementation (and notebook 08's hand-written curve) does; the model as loaded
  (explicit-softmax attention);
- **batched, explicit attention**: :func:`helpers.maps.faithfulness.perturbation_curves` with
  ``fused=False``: every perturbed image of every map and step in one stream, run in batches of
  ``--batch``, the two shared ends of each curve computed once per image;
- **batched, fused attention**: the same with ``fused=True`` (the default), which runs the
  fused ``scaled_dot_product_attention`` kernel since no attention map is needed.

All three must agree (asserted, to 1e-4). Then every method of
:func:`helpers.maps.attribution.explanation_maps` is timed on the same photos.

Prints Markdown tables, the machine's thread count and load average. Times depend on the machine
and its load; compare runs made on the same quiet machine.

Usage: python scripts/bench_faithfulness.py [--images 8] [--maps 4] [--steps 14] [--batch 64]
       [--occlusion 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.data.images import sample_images  # noqa: E402
from helpers.maps.attribution import METHODS, explanation_maps  # noqa: E402
from helpers.maps.faithfulness import (  # noqa: E402
    keep_masks,
    perturb,
    perturbation_curves,
    removal_baseline,
)
from helpers.models import load  # noqa: E402


def photos(count: int) -> list:
    """``count`` photos: the package-shipped samples first, then CIFAR-10 test images."""
    found = list(sample_images().values())
    if count > len(found):
        from PIL import Image

        from helpers.data.datasets import load_cifar10

        data = load_cifar10(train_size=10, test_size=max(10, count), seed=0)
        found += [Image.fromarray(x) for x in data.x_test]
    return found[:count]


def loop_curves(loaded, pixels: torch.Tensor, maps: dict[str, torch.Tensor],
                classes: torch.Tensor, steps: int) -> dict[str, torch.Tensor]:
    """One forward pass per step, image and map (the model as loaded)."""
    baseline = removal_baseline(pixels, "blur")
    curves = {}
    for name, value in maps.items():
        keep = keep_masks(value, steps)  # (B, S + 1, P)
        rows = []
        for b in range(len(pixels)):
            row = [loaded.logits(perturb(pixels[b:b + 1], baseline[b:b + 1], keep[b:b + 1, k])
                                 ).softmax(-1)[0, classes[b]] for k in range(steps + 1)]
            rows.append(torch.stack(row))
        curves[name] = torch.stack(rows)  # (B, S + 1)
    return curves


def timed(function, repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--maps", type=int, default=4, help="maps (random orders) per image")
    parser.add_argument("--steps", type=int, default=14)
    parser.add_argument("--batch", type=int, default=64, help="images per forward pass")
    parser.add_argument("--occlusion", type=int, default=32, help="occlusion window (pixels)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default=None, help="timm model name (default: load's)")
    args = parser.parse_args()

    loaded = load("timm", args.name, device="cpu")
    pixels = loaded.batch(photos(args.images))  # (B, 3, 224, 224)
    classes = loaded.logits(pixels).argmax(-1)
    patches = (pixels.shape[-1] // loaded.model.patch_embed.patch_size[0]) ** 2
    generator = torch.Generator().manual_seed(0)
    maps = {f"map {i}": torch.rand(len(pixels), patches, generator=generator)
            for i in range(args.maps)}
    passes = len(pixels) * len(maps) * (args.steps + 1)

    print(loaded.describe())
    print(f"CPU, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}; "
          f"{len(pixels)} images x {len(maps)} maps x {args.steps + 1} points = {passes} "
          f"perturbed images per run; median of {args.repeats} runs\n")
    loop_s, loop = timed(lambda: loop_curves(loaded, pixels, maps, classes, args.steps),
                         args.repeats)
    rows = [("per-step loop (one image per pass)", passes, loop_s)]
    for fused in (False, True):
        seconds, curves = timed(lambda fused=fused: perturbation_curves(
            loaded, pixels, maps, classes, steps=args.steps, batch_size=args.batch,
            fused=fused), args.repeats)
        for name in maps:
            assert torch.allclose(curves[name], loop[name], atol=1e-4), name
        unique = len(pixels) * (2 + len(maps) * (args.steps - 1))
        kind = "fused" if fused else "explicit"
        rows.append((f"batched ({args.batch} per pass), {kind} attention", unique, seconds))
    print("| deletion curves | forward-pass images | seconds | per curve (ms) | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for label, count, seconds in rows:
        print(f"| {label} | {count} | {seconds:.2f} | "
              f"{seconds / (len(pixels) * len(maps)) * 1000:.0f} | {loop_s / seconds:.1f}x |")

    # Warm-up on one image: grad-cam and captum are imported on first use, not per image.
    explanation_maps(loaded, pixels[:1], classes[:1], occlusion_window=args.occlusion)
    found = explanation_maps(loaded, pixels, classes, occlusion_window=args.occlusion)
    print(f"\n| method ({len(pixels)} images, occlusion window {args.occlusion} px) "
          "| seconds per image |")
    print("|---|---:|")
    for method in METHODS:
        print(f"| {method} | {found.seconds_per_image(method):.3f} |")
    print(f"\nload average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
