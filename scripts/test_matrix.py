"""Run the test suite on every version set and end with one line per set (``make test``).

Usage: python scripts/test_matrix.py [--sets "colab-2026.08 lowest"] [--no-pinned]
                                     [--no-browser] [--log-dir build/test-logs]

1. The matrix venvs (``.venvs/<set>``) are built in the background (``make install-matrix``:
   mostly downloads) while the pinned set's tests run (mostly CPU).
2. The pinned set (``.venv``, ``constraints.txt``) runs every test and every notebook on both
   cores (and two notebooks of the Korean edition), then the browser tests -- always, even
   after a failure above, so one failure never hides the other.
3. Each other set runs the tests marked ``api`` and every notebook (see tests/conftest.py).
4. A summary: set, Python, the versions that differ between sets, passed/failed, minutes.

Every pytest run prints its 25 slowest tests (``--durations=25``) and is logged in the log
folder. Exit status 0 only if every step passed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARALLEL = ["-n", "2", "--dist", "loadscope"]  # both cores; a notebook's cells stay in one worker
# Two workers on two cores: each worker, and the notebook kernel it starts, computes on one thread.
# With torch's default (a thread per core) four threads fight over two cores, and OpenMP's
# spinning makes a notebook 5-10 times slower (notebook 06: 374 s instead of 48 s, same load).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
MATRIX_MARKS = ["-m", "(api or notebook) and not slow and not browser", "--ignore=tests/browser"]
# The Korean edition's code is the English code (tests/notebooks/test_korean_edition.py checks
# it token by token), so the pinned set runs two of its notebooks: 01, and 04 with its explorer
# widget.
KOREAN = ["notebooks/ko/01_torchvision_classification.ipynb",
          "notebooks/ko/04_attention_by_hand.ipynb"]
VERSIONS = ("transformers", "timm", "keras", "numpy", "ipywidgets", "peft")
SUMMARY = re.compile(r"^=+ (.+?) in ([\d.]+)s")


@dataclass
class Step:
    """One pytest run and what came of it."""

    name: str
    python: str
    versions: str
    status: int | None = None
    outcome: str = "not run"
    minutes: float = 0.0

    @property
    def line(self) -> str:
        state = "ok" if self.status == 0 else "FAILED"
        return (f"| {self.name} | {self.python} | {self.versions} | {state}: {self.outcome} | "
                f"{self.minutes:.1f} |")


def describe(python: Path) -> tuple[str, str]:
    """(Python version, 'transformers x / timm y / ...') of a venv, read from package metadata."""
    code = ("import sys, importlib.metadata as m\n"
            "def v(n):\n"
            "    try:\n        return m.version(n)\n"
            "    except m.PackageNotFoundError:\n        return '-'\n"
            f"print(sys.version.split()[0]); print(' / '.join(v(n) for n in {VERSIONS!r}))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    version, versions = out.stdout.strip().splitlines()
    return version, versions


def run_pytest(step: Step, python: Path, args: list[str], log: Path, env: dict) -> None:
    """Run pytest, echo its output, keep a log, and fill in the step's outcome and minutes."""
    command = [str(python), "-m", "pytest", *args]
    print(f"\n=== {step.name}: python {step.python} · {step.versions}\n$ {' '.join(command)}",
          flush=True)
    start = time.monotonic()
    with log.open("w") as keep:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        last = ""
        for line in process.stdout:
            sys.stdout.write(line)
            keep.write(line)
            if SUMMARY.match(line.strip()):
                last = SUMMARY.match(line.strip()).group(1)
        step.status = process.wait()
    step.minutes = (time.monotonic() - start) / 60
    step.outcome = last or f"pytest exit {step.status}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=None,
                        help="version sets besides the pinned one (default: the default matrix)")
    parser.add_argument("--no-pinned", action="store_true", help="skip the pinned set")
    parser.add_argument("--no-browser", action="store_true", help="skip the browser tests")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "build" / "test-logs")
    args = parser.parse_args(argv)
    if args.sets is None:
        matrix = subprocess.run([sys.executable, str(ROOT / "scripts" / "constraints_matrix.py"),
                                 "sets"], capture_output=True, text=True, check=True)
        args.sets = matrix.stdout
    sets = args.sets.split()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MPLBACKEND", None)
    started = time.monotonic()

    builder = None
    if sets:
        build_log = (ROOT / ".venvs").resolve()
        build_log.mkdir(exist_ok=True)
        handle = (build_log / "build.log").open("w")
        builder = subprocess.Popen(["make", "--no-print-directory", "install-matrix",
                                    f"MATRIX={' '.join(sets)}"], cwd=ROOT, stdout=handle,
                                   stderr=subprocess.STDOUT)
        print(f"building the venvs of {', '.join(sets)} in the background "
              f"(log: .venvs/build.log)", flush=True)

    steps: list[Step] = []
    pinned_python = ROOT / ".venv" / "bin" / "python"
    if not args.no_pinned:
        version, versions = describe(pinned_python)
        step = Step("pinned", version, versions)
        # the English notebooks one by one: pytest drops a file named inside a folder it is given
        english = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
        run_pytest(step, pinned_python, [*PARALLEL, "tests", *english, *KOREAN,
                                         "--ignore=tests/browser", "--durations=25"],
                   args.log_dir / "pinned.log", {**env, **ONE_THREAD})
        steps.append(step)
    if not args.no_browser:
        version, versions = describe(pinned_python)
        step = Step("pinned, browser", version, versions)
        run_pytest(step, pinned_python, ["tests/browser", "--durations=10"],
                   args.log_dir / "browser.log", env)
        steps.append(step)

    if builder is not None:
        built = builder.wait() == 0
        handle.close()
        if not built:
            print("\nbuilding the matrix venvs failed; the end of .venvs/build.log:")
            print("".join((ROOT / ".venvs" / "build.log").read_text().splitlines(True)[-40:]))
        for name in sets:
            python = ROOT / ".venvs" / name / "bin" / "python"
            if not built or not (ROOT / ".venvs" / name / ".installed").exists():
                steps.append(Step(name, "-", "-", status=1, outcome="venv not built"))
                continue
            version, versions = describe(python)
            step = Step(name, version, versions)
            run_pytest(step, python, [*PARALLEL, *MATRIX_MARKS, "--durations=25"],
                       args.log_dir / f"{name}.log",
                       {**env, **ONE_THREAD, "VIT_NOTEBOOKS_MATRIX_SET": name})
            steps.append(step)

    total = (time.monotonic() - started) / 60
    logs = args.log_dir.relative_to(ROOT) if args.log_dir.is_relative_to(ROOT) else args.log_dir
    print(f"\n=== summary ({total:.1f} minutes in all; logs in {logs})")
    print(f"| set | Python | {' / '.join(VERSIONS)} | result | minutes |")
    print("|---|---|---|---|---:|")
    for step in steps:
        print(step.line)
    return 0 if steps and all(step.status == 0 for step in steps) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
