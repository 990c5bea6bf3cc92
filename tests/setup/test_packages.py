"""helpers.setup.packages: the setup cell installs only what a runtime lacks or ships too old,
never torch or torchvision, and says so in one line; checked against four real Colab runtimes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from helpers.setup import packages
from helpers.setup.packages import (
    NEVER_INSTALLED,
    course_requirements,
    ensure_requirements,
    install_plan,
)

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api

ROOT = Path(__file__).resolve().parents[2]
COLAB = sorted((Path(__file__).resolve().parents[1] / "data" / "colab").glob("colab-*.txt"))
REQUIREMENTS = [line.split("#", 1)[0].strip()
                for line in (ROOT / "requirements.txt").read_text().splitlines()]
REQUIREMENTS = [line for line in REQUIREMENTS if line]


def _freeze(path: Path) -> dict[str, str]:
    """Distribution -> version from a ``pip freeze`` (``name @ url`` lines give no version)."""
    versions = {}
    for line in path.read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            versions[name.lower().replace("_", "-")] = version.strip()
    return versions


def _lookup(versions: dict[str, str]):
    return lambda name: versions.get(name.lower().replace("_", "-"))


def test_the_bounds_are_requirements_txt():
    assert sorted(course_requirements()) == sorted(REQUIREMENTS)


@pytest.mark.parametrize("freeze", COLAB, ids=lambda p: p.stem)
def test_each_colab_runtime_needs_only_what_it_lacks(freeze: Path):
    """Every supported Colab runtime meets the bounds except for grad-cam and captum, which no
    runtime ships: the setup installs those two and nothing else (certainly not torch)."""
    versions = _freeze(freeze)
    needs = install_plan(_lookup(versions), REQUIREMENTS)
    assert {need.name for need in needs} == {"grad-cam", "captum"}, needs
    assert all(need.installed is None for need in needs)
    old_torch = {**versions, "torch": "1.0.0", "torchvision": "0.1.0"}  # still never installed
    assert {need.name for need in install_plan(_lookup(old_torch), REQUIREMENTS)} == {
        "grad-cam", "captum"}


def test_missing_and_too_old_are_installed_torch_never(monkeypatch):
    versions = {"timm": "1.0.9", "torch": "2.1.0", "torchvision": "0.16.0"}
    ran: list[list[str]] = []
    line = ensure_requirements(install=True, version_of=_lookup(versions),
                               run=lambda command, check: ran.append(command))
    (command,) = ran
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    asked = [arg for arg in command[4:] if ">=" in arg]
    names = {Requirement(arg).name for arg in asked}
    assert "timm" in names and not names & NEVER_INSTALLED  # too old: upgraded
    assert "transformers" in names  # missing: installed
    assert line.startswith("packages: installed ") and "timm>=" in line and "(had 1.0.9)" in line
    assert "torch" not in line.split(";")[0].replace("torchvision", "")  # never listed


def test_torch_is_pinned_where_it_is_while_installing(tmp_path):
    versions = {"torch": "2.11.0", "torchvision": "0.26.0"}
    seen: list[str] = []

    def run(command, check):
        constraints = Path(command[command.index("-c") + 1]).read_text()
        seen.append(constraints)

    ensure_requirements(install=True, version_of=_lookup(versions), run=run)
    assert seen == ["torch==2.11.0\ntorchvision==0.26.0\n"]


def test_nothing_to_do_says_so_and_runs_nothing():
    everything = {Requirement(line).name.lower().replace("_", "-"): "999"
                  for line in REQUIREMENTS}
    ran: list = []
    line = ensure_requirements(install=True, version_of=_lookup(everything),
                               run=lambda *a, **k: ran.append(a))
    assert ran == [] and "nothing installed" in line


def test_a_local_install_is_only_told_what_to_run():
    ran: list = []
    line = ensure_requirements(install=False, version_of=_lookup({}),
                               run=lambda *a, **k: ran.append(a))
    assert ran == [] and "do not meet the course's bounds; run: pip install" in line


def test_this_environment_meets_every_bound():
    """The venv the tests run in (any set of the test matrix) was built from requirements.txt:
    the setup's plan, run for real here, must be empty."""
    assert install_plan(requirements=REQUIREMENTS) == []
    set_name = os.environ.get("VIT_NOTEBOOKS_MATRIX_SET", "")
    if set_name.startswith("colab-"):  # the venv holds that Colab runtime's versions
        freeze = (Path(__file__).resolve().parents[1] / "data" / "colab"
                  / f"{set_name.split('-py')[0]}.txt")
        colab = _freeze(freeze)
        for name in ("transformers", "timm", "keras", "ipywidgets", "numpy", "peft"):
            assert packages.installed_version(name) == colab[name], name
