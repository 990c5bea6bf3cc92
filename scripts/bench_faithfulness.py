"""Benchmark: what notebook 08's deletion and insertion curves cost, against the forward passes
they need; token removal against fill removal; and the seconds per image of every method.

The curves are compute-bound: every perturbed image is one forward pass, and batching saves only
Python overhead. So the honest yardstick is the model itself. For ``--images`` photos (the
package-shipped samples, then CIFAR-10 test images) the script computes the nine maps of
:func:`helpers.maps.attribution.explanation_maps`, then:

1. **curves against forward passes**: both curves of all nine maps with
   :func:`helpers.evaluation.faithfulness.perturbation_curves` (``--steps`` steps, ``--draws``
   tie-breaking orders, RISE's pairing: deletion to grey, insertion from blur), counting the
   images the model really ran (each distinct perturbed image once), then the same number of
   images forwarded alone at batch ``--batch`` with the same fused kernel. Goal: curves ≤ 1.2×
   the forward passes alone.
2. **token removal against a fill**: a full deletion curve of every map with the removed patch
   tokens dropped (``baseline="tokens"``) and with grey fill. Goal: tokens ≥ 1.8× cheaper.
3. the seconds per image of every method (occlusion window ``--occlusion``).

Prints Markdown tables with wall and CPU seconds and the load average before and after each
measurement. Times depend on the machine and its load; compare runs made on the same quiet
machine.

Usage: python scripts/bench_faithfulness.py [--images 16] [--steps 14] [--draws 2]
       [--batch 64] [--occlusion 32] [--repeats 1]

Set OMP_NUM_THREADS=1 on a machine that other jobs keep busy: two threads that wait for each
other's time slice make every small operation slow and the comparison meaningless.
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
from helpers.evaluation.faithfulness import MODES, perturbation_curves  # noqa: E402
from helpers.maps.attribution import METHODS, explanation_maps  # noqa: E402
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


def timed(function, repeats: int) -> tuple[float, float, object, str]:
    """Median wall seconds and median CPU seconds of ``repeats`` calls, the last result, and
    the load before / after. CPU seconds (this process) move less with other jobs' load."""
    walls, cpus, result, before = [], [], None, load_average()
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result, \
        f"{before} / {load_average()}"


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

    def curves(baseline, modes) -> list:
        return [perturbation_curves(loaded, pixels, found.maps, classes, mode=mode,
                                    steps=args.steps, baseline=baseline, draws=args.draws,
                                    batch_size=args.batch) for mode in modes]

    rows = []
    for label, baseline, modes in [("both curves, RISE (grey / blur)", None, MODES),
                                   ("both curves, tokens", "tokens", MODES),
                                   ("deletion curve, grey fill", "grey", ("deletion",)),
                                   ("deletion curve, tokens", "tokens", ("deletion",))]:
        counter = Counter(model)
        try:
            wall, cpu, _, loads = timed(lambda b=baseline, m=modes: curves(b, m), args.repeats)
        finally:
            counter.handle.remove()
        images, tokens = counter.images // args.repeats, counter.tokens // args.repeats
        rows.append((label, images, tokens, wall, cpu, loads))
        if label.startswith("both curves, RISE"):  # the yardstick, measured right after
            alone = timed(lambda n=images: forward_alone(model, n, args.batch, pixels.shape[-1]),
                          args.repeats)
            rows.append((f"forward passes alone (batch {args.batch}, fused)", images,
                         images * (model.patch_embed.num_patches + model.num_prefix_tokens),
                         alone[0], alone[1], alone[3]))

    print("| curves of nine maps | images run | tokens run | wall s | CPU s "
          "| load before / after |")
    print("|---|---:|---:|---:|---:|---|")
    for label, images, tokens, wall, cpu, loads in rows:
        print(f"| {label} | {images} | {tokens} | {wall:.1f} | {cpu:.1f} | {loads} |")
    rise, alone = rows[0], rows[1]
    print(f"\nRISE curves against the forward passes they need, alone: {rise[3] / alone[3]:.2f}× "
          f"wall, {rise[4] / alone[4]:.2f}× CPU (goal ≤ 1.2)")
    fill, tokens = rows[3], rows[4]
    print(f"token removal makes a full deletion curve {fill[3] / tokens[3]:.2f}× (wall), "
          f"{fill[4] / tokens[4]:.2f}× (CPU) cheaper than grey fill (goal ≥ 1.8; "
          f"{tokens[2] / fill[2]:.0%} of the tokens)")

    print(f"\n| method ({len(pixels)} images, occlusion window {args.occlusion} px) "
          "| seconds per image |")
    print("|---|---:|")
    for method in METHODS:
        print(f"| {method} | {found.seconds_per_image(method):.3f} |")
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    main()
