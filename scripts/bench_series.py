"""The series' performance report (``make bench``).

1. Executes every notebook offline, with the stand-in weights when ``../shared/weights``
   (or ``$VIT_NOTEBOOKS_WEIGHTS``) exists, in smoke mode, each in its own process so
   that the kernel's peak resident memory can be read; prints seconds and peak MB.
2. Runs every ``scripts/bench_explorer_*.py`` (redraw latency in the kernel).
3. Prints the in-browser latencies from ``build/browser-latency.json`` when
   ``make test-browser`` has written them.

Targets on a 2-core CPU: the whole series in <= 6 minutes; no notebook above 3 GB;
explorer redraws <= 50 ms in the kernel and <= 150 ms key-to-picture in the browser.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERIES_TARGET_S = 360
RSS_TARGET_MB = 3072


def _environment() -> dict[str, str]:
    env = {**os.environ, "VIT_NOTEBOOKS_OFFLINE": "1", "VIT_NOTEBOOKS_SMOKE": "1",
           "PYTHONUNBUFFERED": "1"}
    env.pop("MPLBACKEND", None)
    shared = ROOT.parent / "shared"
    if "VIT_NOTEBOOKS_WEIGHTS" not in env and (shared / "weights").is_dir():
        env["VIT_NOTEBOOKS_WEIGHTS"] = str(shared / "weights")
    if "VIT_NOTEBOOKS_DATA" not in env and (shared / "data").is_dir():
        env["VIT_NOTEBOOKS_DATA"] = str(shared / "data")
    return env


def run_notebooks(env: dict[str, str]) -> list[dict]:
    """Execute each notebook in a fresh process; return its results with peak RSS."""
    results = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "result.json"
            subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), str(path),
                            "--out", str(ROOT / "build" / "bench"), "--json", str(report)],
                           env=env, check=False, stdout=subprocess.DEVNULL)
            if report.is_file():
                results.extend(json.loads(report.read_text()))
            else:
                results.append({"name": path.name, "status": "FAILED: runner crashed",
                                "seconds": 0.0, "peak_rss_mb": 0.0, "weights": []})
        last = results[-1]
        print(f"  {last['name']}: {last['status']}, {last['seconds']:.1f} s, "
              f"{last['peak_rss_mb']:.0f} MB", flush=True)
    return results


def print_notebook_table(results: list[dict]) -> None:
    print("\n| notebook | status | seconds | peak RSS (MB) | weights |")
    print("|---|---|---:|---:|---|")
    for r in results:
        print(f"| {r['name']} | {r['status']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} "
              f"| {', '.join(r['weights']) or '-'} |")
    total = sum(r["seconds"] for r in results)
    peak = max((r["peak_rss_mb"] for r in results), default=0.0)
    print(f"| **series** | {sum(r['status'] == 'ok' for r in results)}/{len(results)} ok "
          f"| {total:.1f} (target ≤ {SERIES_TARGET_S}) | {peak:.0f} (target ≤ {RSS_TARGET_MB}) | |")


def run_explorer_benchmarks(env: dict[str, str]) -> None:
    for script in sorted((ROOT / "scripts").glob("bench_explorer_*.py")):
        print(f"\n### {script.name}\n", flush=True)
        subprocess.run([sys.executable, str(script)], env=env, check=False)


def print_browser_latency() -> None:
    path = ROOT / "build" / "browser-latency.json"
    print("\n### In-browser latency (key press to new picture; from make test-browser)\n")
    if not path.is_file():
        print("not measured yet: run `make test-browser` first")
        return
    print("| notebook | moves | median ms | max ms |")
    print("|---|---:|---:|---:|")
    for name, r in sorted(json.loads(path.read_text()).items()):
        print(f"| {name} | {r['moves']} | {r['median_ms']:.0f} | {r['max_ms']:.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Takes no options: it runs everything above (minutes).")
    parser.parse_args(argv)
    env = _environment()
    print("executing notebooks (offline, smoke mode, "
          f"weights: {env.get('VIT_NOTEBOOKS_WEIGHTS', 'none: random')}) ...", flush=True)
    results = run_notebooks(env)
    print_notebook_table(results)
    run_explorer_benchmarks(env)
    print_browser_latency()
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
