"""What the photo explorers' benchmarks share (scripts/bench_explorer_dino.py and
scripts/bench_explorer_rollout.py): build an explorer and time its slow path once per photo,
time control moves the way a reader makes them, and print the report."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch


def build_and_visit(make: Callable[[], Any], photos: Sequence[str]
                    ) -> tuple[Any, float, list[float]]:
    """Build an explorer, then show every other photo once (the slow path).

    Returns:
        The explorer, the seconds its construction took (first photo included), and the
        seconds each other photo took the first time it was picked.
    """
    start = time.perf_counter()
    explorer = make()
    build_s = time.perf_counter() - start
    first_seen = []
    for name in list(photos)[1:]:
        start = time.perf_counter()
        explorer.set(image=name)
        first_seen.append(time.perf_counter() - start)
    return explorer, build_s, first_seen


def time_moves(explorer: Any, moves: Mapping[str, Sequence[dict]]
               ) -> list[tuple[str, int, float, float]]:
    """Make every move of every row through ``explorer.set`` and time its redraw.

    Each move must redraw, and no move may send a photo through the model again.

    Returns:
        (row label, moves, median ms, slowest ms) per row.
    """
    computed = explorer.computed
    rows = []
    for label, sequence in moves.items():
        times = []
        for values in sequence:
            before = explorer.redraws
            explorer.set(**values)
            assert explorer.redraws > before, f"{values} did not move a control"
            times.append(explorer.last_draw_s * 1000)
        rows.append((label, len(times), statistics.median(times), max(times)))
    assert explorer.computed == computed, "a control move recomputed a photo"
    return rows


def print_report(description: str, build_s: float, first_seen: Sequence[float],
                 rows: Sequence[tuple[str, int, float, float]], extra: str = "") -> None:
    """The machine line, the slow-path line (with ``extra`` appended) and the Markdown table."""
    print(description)
    print(f"CPU, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}; "
          f"explorer built in {build_s:.2f} s (first photo included); a new photo takes "
          f"{statistics.median(first_seen) * 1000:.0f} ms (median of {len(first_seen)}, the "
          f"slow path){extra}\n")
    print("| control | moves | median redraw (ms) | slowest (ms) |")
    print("|---|---:|---:|---:|")
    for label, count, median, worst in rows:
        print(f"| {label} | {count} | {median:.1f} | {worst:.1f} |")
