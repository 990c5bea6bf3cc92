"""Benchmark: how fast notebook 08's faithfulness explorer redraws when a control moves, in the
kernel.

Builds :class:`helpers.explorers.faithfulness.FaithfulnessExplorer` on the sample photos with the
timm model that :func:`helpers.models.load` gives here (real ViT-B/16 online; offline the ViT-Tiny
stand-in or random ViT-B/16 weights), computes every photo once (the slow path: every method's map
and both curves of each), then moves each control ``--moves`` times the way a reader would
(through ``explorer.set``) and reports the median and the slowest redraw. A redraw is: compose the
partly removed photo from the photo, its blurred copy and the method's patch order, update the
curves and the marker, blit the changed artists over the cached background, encode a JPEG and
write the status line.

Prints a Markdown table. Times depend on the machine and its load; compare runs made on the
same quiet machine.

Usage: python scripts/bench_explorer_faithfulness.py [--moves 50] [--steps 14] [--photos 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_explorer_rollout import cycle  # noqa: E402
from explorer_bench import build_and_visit, print_report, time_moves  # noqa: E402

from helpers.data.images import sample_images  # noqa: E402
from helpers.evaluation.faithfulness import MODES  # noqa: E402
from helpers.explorers.faithfulness import FaithfulnessExplorer  # noqa: E402
from helpers.maps.attribution import METHODS  # noqa: E402
from helpers.models import load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=50, help="control moves per row")
    parser.add_argument("--steps", type=int, default=14, help="steps per curve")
    parser.add_argument("--photos", type=int, default=2, help="sample photos to compute")
    parser.add_argument("--name", default=None, help="timm model name (default: load's)")
    args = parser.parse_args()

    loaded = load("timm", args.name, device="cpu")
    photos = dict(list(sample_images().items())[:args.photos])
    explorer, build_s, first_seen = build_and_visit(
        lambda: FaithfulnessExplorer(loaded, photos, steps=args.steps), photos)
    explorer.set(image=next(iter(photos)))
    moves = {
        "step slider": [{"step": s} for s in cycle(list(range(args.steps + 1)), args.moves)],
        "method dropdown": [{"method": m} for m in cycle(list(METHODS), args.moves)],
        "curve dropdown": [{"curve": c} for c in cycle(list(MODES), args.moves)],
        "image picker (already computed)": [{"image": n}
                                            for n in cycle(list(photos), args.moves)],
    }
    rows = time_moves(explorer, moves)
    print_report(loaded.describe(), build_s, first_seen or [build_s], rows)


if __name__ == "__main__":
    main()
