"""Benchmark: what notebook 08's deletion and insertion curves cost, against the forward passes
they need; token removal against fill removal; and the seconds per image of every method.

The curves are compute-bound: every perturbed image is one forward pass, and batching saves only
Python overhead. So the honest yardstick is the model itself. For ``--images`` photos (the
package-shipped samples, then CIFAR-10 test images) the script computes the nine maps of
:func:`helpers.maps.attribution.explanation_maps`, then:

1. **curves against forward passes**: both curves of all nine maps with
   :func:`helpers.maps.faithfulness.perturbation_curves` (``--steps`` steps, ``--draws``
   tie-breaking orders, RISE's pairing: deletion to grey, insertion from blur), counting the
   images the model really ran (each distinct perturbed image once), then the same number of
   images forwarded alone at batch ``--batch`` with the same fused kernel. Goal: curves ≤ 1.2×
   the forward passes alone.
2. **token removal against a fill**: a full deletion curve of every map with the removed patch
   tokens dropped (``baseline="tokens"``) and with grey fill. Goal: tokens ≥ 1.8× cheaper.
3. the seconds per image of every method (occlusion window ``--occlusion``).

Prints Markdown tables with the load average before and after each measurement. Times depend on
the machine and its load; compare runs made on the same quiet machine.

Usage: python scripts/bench_faithfulness.py [--images 16] [--steps 14] [--draws 2]
       [--batch 64] [--occlusion 32] [--repeats 1]
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
from helpers.maps.faithfulness import MODES, perturbation_curves  # noqa: E402
from helpers.models import load  # noqa: E402
from helpers.models.libraries import attention_kernel  # noqa: E402


def photos(count: int) -> list:
    """``count`` photos: the package-shipped samples first, then CIFAR-10 test images."""
    found = list(sample_images().values())
    if count > len(found):
        from PIL import Image

        from helpers.data.datasets import load_cifar10

        data = load_cifar10(train_size=10, test_size=max(10, count), seed=0)
        found += [Image.fromarray(x) for x in data.x_test]
    return found[:count]


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def timed(function, repeats: int) -> tuple[float, object, str]:
    """Median seconds of ``repeats`` calls, the last result, and the load before / after."""
    times, result, before = [], None, load_average()
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result, f"{before} / {load_average()}"


class Counter:
    """Counts the images and tokens the model's blocks receive (a forward pre-hook)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.images = self.tokens = 0
        self.handle = model.blocks[0].register_forward_pre_hook(self._count)

    def _count(self, _module: torch.nn.Module, args: tuple) -> None:
        self.images += args[0].shape[0]
        self.tokens += args[0].shape[0] * args[0].shape[1]


def forward_alone(model: torch.nn.Module, images: int, batch: int, size: int) -> None:
    """``images`` images of ``size`` pixels through the model at ``batch`` per pass, fused."""
    x = torch.randn(batch, 3, size, size)
    with torch.inference_mode(), attention_kernel(model, fused=True):
        for start in range(0, images, batch):
            model(x[:min(batch, images - start)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--steps", type=int, default=14)
    parser.add_argument("--draws", type=int, default=2, help="tie-breaking orders per curve")
    parser.add_argument("--batch", type=int, default=64, help="images per forward pass")
    parser.add_argument("--occlusion", type=int, default=32, help="occlusion window (pixels)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--name", default=None, help="timm model name (default: load's)")
    args = parser.parse_args()

    loaded = load("timm", args.name, device="cpu")
    model = loaded.model
    pixels = loaded.batch(photos(args.images))  # (B, 3, 224, 224)
    classes = loaded.logits(pixels).argmax(-1)
    print(loaded.describe())
    print(f"CPU, {torch.get_num_threads()} threads; {len(pixels)} images, {len(METHODS)} maps, "
          f"{args.steps} steps, {args.draws} tie-breaking draws, batches of {args.batch}; "
          f"median of {args.repeats} runs; load average at the start {load_average()}\n")
    explanation_maps(loaded, pixels[:1], classes[:1], occlusion_window=args.occlusion)  # warm-up
    found = explanation_maps(loaded, pixels, classes, occlusion_window=args.occlusion)

    rows = []
    for label, baseline, modes in [("both curves, RISE (grey / blur)", None, MODES),
                                   ("both curves, tokens", "tokens", MODES),
                                   ("deletion curve, grey fill", "grey", ("deletion",)),
                                   ("deletion curve, tokens", "tokens", ("deletion",))]:
        counter = Counter(model)
        try:
            seconds, _, loads = timed(lambda baseline=baseline, modes=modes: [perturbation_curves(
                loaded, pixels, found.maps, classes, mode=mode, steps=args.steps,
                baseline=baseline, draws=args.draws, batch_size=args.batch) for mode in modes],
                args.repeats)
        finally:
            counter.handle.remove()
        images, tokens = counter.images // args.repeats, counter.tokens // args.repeats
        rows.append((label, images, tokens, seconds, loads))

    print("| curves of nine maps | images run | tokens run | seconds | load before / after |")
    print("|---|---:|---:|---:|---|")
    for label, images, tokens, seconds, loads in rows:
        print(f"| {label} | {images} | {tokens} | {seconds:.1f} | {loads} |")

    label, images, _, curves_s, _ = rows[0]
    alone_s, _, loads = timed(lambda: forward_alone(model, images, args.batch, pixels.shape[-1]),
                             args.repeats)
    print(f"\n| {images} images | seconds | load before / after | ratio |")
    print("|---|---:|---|---:|")
    print(f"| forward passes alone (batch {args.batch}, fused) | {alone_s:.1f} | {loads} | 1.00 |")
    print(f"| {label}, everything included | {curves_s:.1f} | {rows[0][4]} | "
          f"{curves_s / alone_s:.2f} (goal ≤ 1.2) |")
    fill_s, tokens_s = rows[2][3], rows[3][3]
    print(f"\ntoken removal makes a full deletion curve {fill_s / tokens_s:.2f}× cheaper than grey "
          f"fill (goal ≥ 1.8; {rows[3][2] / rows[2][2]:.0%} of the tokens)")

    print(f"\n| method ({len(pixels)} images, occlusion window {args.occlusion} px) "
          "| seconds per image |")
    print("|---|---:|")
    for method in METHODS:
        print(f"| {method} | {found.seconds_per_image(method):.3f} |")
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    main()
