"""Time notebooks in smoke mode: wall seconds, kernel CPU seconds and the load they ran under.

Each run executes one notebook in a fresh kernel (``scripts/run_notebooks.py``'s
``run_one``), in its own process, so the kernel's CPU time can be read. ``--threads`` sets
``OMP_NUM_THREADS`` for the kernel: on a shared 2-core machine, two torch threads per kernel
can run many times slower than one (each thread spins waiting for the other), so compare both.

Usage: python scripts/time_notebooks.py notebooks/06_keras_vit_from_scratch.ipynb
       [--threads 1 2] [--repeat 3] [--out /tmp/bench-build]

Prints one Markdown row per run: notebook, threads, wall seconds, kernel CPU seconds, and
the 1-minute load average before and after. Numbers taken under load mislead: quote the
median of runs on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ONE_RUN = """
import resource, sys
sys.path.insert(0, {scripts!r})
import run_notebooks
from pathlib import Path
result = run_notebooks.run_one(Path({notebook!r}), Path({out!r}), timeout=3000)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(result.status, result.seconds, usage.ru_utime + usage.ru_stime)
"""


def run(notebook: Path, threads: str, out: Path) -> tuple[str, float, float, float, float]:
    """(status, wall s, kernel CPU s, load before, load after) of one fresh-kernel run."""
    env = {**os.environ, "VIT_NOTEBOOKS_SMOKE": "1", "VIT_NOTEBOOKS_OFFLINE": "1"}
    env.pop("MPLBACKEND", None)
    if threads != "default":
        env["OMP_NUM_THREADS"] = threads
    before = os.getloadavg()[0]
    code = ONE_RUN.format(scripts=str(ROOT / "scripts"), notebook=str(notebook), out=str(out))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True, cwd=ROOT)
    status, wall, cpu = done.stdout.strip().splitlines()[-1].rsplit(" ", 2)
    return status, float(wall), float(cpu), before, os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--threads", nargs="+", default=["1", "default"],
                        help="OMP_NUM_THREADS values for the kernel ('default': unset)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench-notebook")
    args = parser.parse_args()
    print("| notebook | threads | status | wall s | kernel CPU s | load before -> after |")
    print("|---|---|---|---:|---:|---|")
    for notebook in args.notebooks:
        for threads in args.threads:
            walls = []
            for _ in range(args.repeat):
                status, wall, cpu, before, after = run(notebook.resolve(), threads, args.out)
                walls.append(wall)
                print(f"| {notebook} | {threads} | {status} | {wall:.1f} | {cpu:.1f} | "
                      f"{before:.2f} -> {after:.2f} |", flush=True)
            if args.repeat > 1:
                median = statistics.median(walls)
                print(f"| {notebook} | {threads} | median | {median:.1f} | | |")


if __name__ == "__main__":
    main()
