"""Benchmark: how fast notebook 07's DINO explorer redraws when a control moves, in the kernel.

Builds :class:`helpers.explorers.dino.DinoExplorer` on the sample photos with the DINO model that
:func:`helpers.models.load` gives here (real DINO online; offline the stand-in or random
weights, which redraw at the same speed), computes every photo once, then moves each control
``--moves`` times the way a reader would (through ``explorer.set``) and reports the median and
the slowest redraw. A redraw is: re-index precomputed RGBA pictures, ``set_data`` on two image
artists, render the figure to PNG and write the status line. The slow path (a photo seen for
the first time: one forward pass and every map) is reported separately.

Prints a Markdown table. Times depend on the machine and its load; compare runs made on the
same quiet machine.

Usage: python scripts/bench_explorer_dino.py [--moves 50] [--name vit_base_patch16_224.dino]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer_bench import build_and_visit, print_report, time_moves  # noqa: E402

from helpers.data.images import sample_images  # noqa: E402
from helpers.explorers.dino import KEEPS, KINDS, DinoExplorer  # noqa: E402
from helpers.models import load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=50, help="control moves per row")
    parser.add_argument("--name", default="vit_base_patch16_224.dino", help="timm model name")
    args = parser.parse_args()

    loaded = load("timm", args.name, device="cpu")
    photos = sample_images()
    explorer, build_s, first_seen = build_and_visit(lambda: DinoExplorer(loaded, photos), photos)
    heads = explorer.inputs(next(iter(photos))).over["CLS attention"].shape[0]

    moves = {
        "head slider (CLS attention)": [{"kind": KINDS[0], "head": h % heads}
                                        for h in range(1, args.moves + 1)],
        "threshold slider (attention mask)": [
            {"kind": "attention mask", "keep": int(k)}
            for k in itertools.islice(itertools.cycle([*KEEPS, *KEEPS[-2:0:-1]]), args.moves)],
        "map type dropdown": [{"kind": k} for k in itertools.islice(itertools.cycle(KINDS),
                                                                    args.moves)],
        "image picker (already computed)": [
            {"image": n} for n in itertools.islice(itertools.cycle(photos), args.moves)],
    }
    print_report(loaded.describe(), build_s, first_seen, time_moves(explorer, moves))

if __name__ == "__main__":
    main()
