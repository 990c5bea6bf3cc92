"""Every script in scripts/ starts: those with a command line print their usage for --help
(which imports the script and everything it imports at the top, and parses no real work), and
the README names only scripts that are smoke-tested here or tested in their own file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (ROOT / "scripts").glob("*.py"))

#: Scripts without an argparse command line, and how they are covered instead.
NOT_A_CLI = {
    "explorer_bench": "a module the bench_explorer_* scripts import (checked through them)",
    "constraints_matrix": "subcommands without argparse; tests/test_constraints_matrix.py",
    "korean_lint": "no options; tests/notebooks/test_korean_lint.py runs it",
    "link_torch": "links a venv's torch into another; needs two venvs (make's matrix target)",
}
HELP = [name for name in SCRIPTS if name not in NOT_A_CLI]


def test_every_script_is_smoke_tested_or_says_why_not():
    assert set(NOT_A_CLI) <= set(SCRIPTS), f"NOT_A_CLI names missing scripts: " \
                                           f"{sorted(set(NOT_A_CLI) - set(SCRIPTS))}"
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"scripts/(\w+)\.py", readme))
    tested = set(HELP) | {"constraints_matrix"}
    assert named <= tested, f"README names untested scripts: {sorted(named - tested)}"


@pytest.mark.parametrize("name", HELP)
def test_script_prints_its_usage(name):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{name}.py"), "--help"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage:"), result.stdout[:500]
    assert f"{name}.py" in result.stdout.splitlines()[0]
