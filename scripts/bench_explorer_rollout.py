"""Benchmark: how fast notebook 05's rollout explorer redraws when a control moves, in the kernel.

Builds :class:`helpers.explorers.rollout.RolloutExplorer` on the sample photos with the timm model
that :func:`helpers.models.load` gives here (real ViT-B/16 online; offline the ViT-Tiny stand-in
or random ViT-B/16 weights), computes every photo once, then moves each control ``--moves``
times the way a reader would (through ``explorer.set``) and reports the median and the slowest
redraw. A redraw is: mask, add the identity, normalise and multiply the class token's row through
the chosen layers (:func:`helpers.explorers.rollout.cls_rollout`), colour three small maps,
``set_data`` on their image artists, render the figure to PNG and write the status line. The
rollout alone is timed too, and the slow path (a photo seen for the first time: one forward pass
and one batched backward pass for its top classes) is reported separately.

Prints a Markdown table. Times depend on the machine and its load; compare runs made on the
same quiet machine.

Usage: python scripts/bench_explorer_rollout.py [--moves 50] [--name vit_base_patch16_224...]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer_bench import build_and_visit, print_report, time_moves  # noqa: E402

from helpers.data.images import sample_images  # noqa: E402
from helpers.explorers.rollout import DISCARD_RATIOS, RolloutExplorer, cls_rollout  # noqa: E402
from helpers.maps.rollout import HEAD_FUSIONS  # noqa: E402
from helpers.models import load  # noqa: E402


def cycle(values: list, count: int) -> list:
    """``count`` values going back and forth over ``values``, starting after ``values[0]`` (the
    control's current value), so every move changes the value."""
    there_and_back = values + values[-2:0:-1] if len(values) > 2 else values
    return list(itertools.islice(itertools.cycle(there_and_back[1:] + there_and_back[:1]),
                                 count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=50, help="control moves per row")
    parser.add_argument("--name", default=None, help="timm model name (default: load's)")
    args = parser.parse_args()

    loaded = load("timm", args.name, device="cpu")
    photos = sample_images()
    explorer, build_s, first_seen = build_and_visit(lambda: RolloutExplorer(loaded, photos),
                                                    photos)
    explorer.set(image=next(iter(photos)))
    inputs = explorer.inputs(next(iter(photos)))
    depth = next(iter(inputs.fused.values())).shape[0]
    classes = [-1] + [index for index, _, _ in inputs.classes]

    moves = {
        "head-fusion dropdown": [{"fusion": f} for f in cycle(list(HEAD_FUSIONS), args.moves)],
        "discard-ratio slider (percent)": [{"discard": p}
                                           for p in cycle(list(range(100)), args.moves)],
        "layer-range slider (start)": [{"layers": (s, depth - 1)}
                                       for s in cycle(list(range(depth)), args.moves)],
        "class dropdown": [{"target": c} for c in cycle(classes, args.moves)],
        "image picker (already computed)": [{"image": n}
                                            for n in cycle(list(photos), args.moves)],
    }
    rows = time_moves(explorer, moves)

    key = (-1, "max")
    rollout_ms = []
    for r in range(0, len(DISCARD_RATIOS), 5):
        start = time.perf_counter()
        cls_rollout(inputs.fused[key], inputs.thresholds[key][r])
        rollout_ms.append((time.perf_counter() - start) * 1000)

    print_report(loaded.describe(), build_s, first_seen, rows,
                 extra=f"; the rollout of all {depth} layers alone takes "
                       f"{statistics.median(rollout_ms):.1f} ms (median of {len(rollout_ms)})")

if __name__ == "__main__":
    main()
