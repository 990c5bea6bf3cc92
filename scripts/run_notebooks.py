"""Execute every notebook headless into build/ and print a summary table.

For each ``notebooks/NN_*.ipynb`` this writes ``build/NN_*.ipynb`` (executed, with
outputs and widget state) and ``build/NN_*.html``, then prints one row per notebook:
status, wall seconds, the kernel's CPU seconds (user + system: the number that travels between
a quiet and a busy machine) and which model weights it used (read from the ``Model: ...`` lines
that the notebooks print).

Usage: python scripts/run_notebooks.py [NOTEBOOK ...] [--out build] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
MODEL_LINE = re.compile(r"^Model: (\S+) (\S+) — (pretrained|stand-in|random weights)", re.M)


@dataclass
class Result:
    """Outcome of executing one notebook."""

    name: str
    status: str
    seconds: float
    weights: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0


def _weights_used(notebook: nbformat.NotebookNode) -> list[str]:
    """Distinct ``library: kind`` pairs from the notebook's ``Model: ...`` output lines."""
    found: list[str] = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            for library, _name, kind in MODEL_LINE.findall(text):
                entry = f"{library}: {kind.replace(' weights', '')}"
                if entry not in found:
                    found.append(entry)
    return found


def run_one(path: Path, out_dir: Path, timeout: int) -> Result:
    """Execute ``path`` with its own folder as working directory; save .ipynb and .html."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    status = "ok"
    try:
        client.execute()
    except CellExecutionError as err:
        status = f"FAILED: {str(err).strip().splitlines()[-1][:80]}"
    except (CellTimeoutError, DeadKernelError) as err:
        status = f"FAILED: {type(err).__name__}"
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)   # the kernel has exited and been reaped
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_dir / path.name)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    # Largest resident set of any finished child so far: the kernel, when this process
    # runs one notebook (scripts/bench_series.py runs each in its own process).
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return Result(path.name, status, seconds, _weights_used(notebook), peak_mb, cpu)


def print_table(results: list[Result]) -> None:
    """Print the summary as a Markdown table."""
    print("\n| notebook | status | seconds | CPU seconds | weights |")
    print("|---|---|---:|---:|---|")
    for r in results:
        print(f"| {r.name} | {r.status} | {r.seconds:.1f} | {r.cpu_seconds:.1f} | "
              f"{', '.join(r.weights) or '-'} |")
    total = sum(r.seconds for r in results)
    cpu = sum(r.cpu_seconds for r in results)
    print(f"| total | {sum(r.status == 'ok' for r in results)}/{len(results)} ok | {total:.1f} | "
          f"{cpu:.1f} | |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    results = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        result = run_one(path.resolve(), args.out, args.timeout)
        print(f"  {result.status} in {result.seconds:.1f} s ({result.cpu_seconds:.1f} CPU s, load "
              f"{os.getloadavg()[0]:.1f})", flush=True)
        results.append(result)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps([vars(r) for r in results], indent=2))
    print(f"\nexecuted notebooks and HTML copies are in {args.out}/")
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
