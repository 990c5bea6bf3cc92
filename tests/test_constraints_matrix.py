"""The version sets come from one place: scripts/constraints_matrix.py writes every
constraints/<set>.txt from the Colab freezes, requirements*.txt and constraints.txt, and the
Makefile, the README and the freezes' README agree with it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from script_loader import load_script

ROOT = Path(__file__).resolve().parent.parent
matrix = load_script("constraints_matrix")


def test_committed_constraint_files_are_what_the_script_writes():
    assert matrix.stale_files() == [], "run: make constraints-matrix"


def test_a_changed_source_makes_a_file_stale(tmp_path, monkeypatch):
    """The check can fail: a Colab freeze that moves one version makes its file stale."""
    colab = tmp_path / "colab"
    colab.mkdir()
    for freeze in (ROOT / "tests" / "data" / "colab").glob("colab-*.txt"):
        text = freeze.read_text()
        if freeze.stem == "colab-2026.01":
            text = re.sub(r"(?m)^timm==.*$", "timm==1.0.99", text)
        (colab / freeze.name).write_text(text)
    monkeypatch.setattr(matrix, "COLAB", colab)
    assert matrix.stale_files() == ["colab-2026.01.txt"]


def test_every_colab_freeze_has_a_set_and_every_set_a_source():
    freezes = sorted(p.stem for p in (ROOT / "tests" / "data" / "colab").glob("colab-*.txt"))
    colab_sets = sorted(s.name for s in matrix.SETS if s.name.startswith("colab-"))
    assert colab_sets == freezes
    readme = (ROOT / "tests" / "data" / "colab" / "README.md").read_text()
    assert all(f"{name}.txt" in readme for name in freezes)
    assert sorted(p.stem for p in (ROOT / "constraints").glob("*.txt")) == sorted(
        s.name for s in matrix.SETS)


def test_the_default_matrix_spans_what_differs_between_versions():
    """transformers 4.53 (lowest), 4.57 (output_attentions under sdpa gives None) and 5.x, on
    the oldest bounds and on Colab's current Python."""
    default = [s for s in matrix.SETS if s.default]
    assert [s.name for s in default] == ["colab-2026.08", "colab-2026.01", "lowest"]
    transformers = set()
    for version_set in default:
        text = (ROOT / "constraints" / f"{version_set.name}.txt").read_text()
        transformers.add(re.search(r"(?m)^transformers==(\d+\.\d+)", text).group(1))
    assert transformers == {"5.15", "4.57", "4.53"}
    assert next(s for s in default if s.name == "colab-2026.08").python == "3.13"


def test_colab_sets_keep_colab_versions_except_torch_and_named_pins():
    pinned, _ = matrix.read_pins(ROOT / "constraints.txt")
    for version_set in (s for s in matrix.SETS if s.name.startswith("colab-")):
        freeze, _ = matrix.read_pins(ROOT / "tests" / "data" / "colab" / f"{version_set.name}.txt")
        ours, _ = matrix.read_pins(ROOT / "constraints" / f"{version_set.name}.txt")
        text = (ROOT / "constraints" / f"{version_set.name}.txt").read_text()
        for key, (name, version) in freeze.items():
            if matrix.TORCH_FAMILY.match(key):  # this machine's torch, not Colab's build
                assert ours.get(key) == pinned.get(key), (version_set.name, key)
            elif key in ours:
                assert ours[key][1].split(" ;")[0] == version, (version_set.name, key)
            else:
                assert f"{name}=={version} dropped" in text, (version_set.name, key)
        for extra in ("grad-cam", "captum", "ttach", "peft"):
            assert extra in ours, (version_set.name, extra)


def test_lowest_pins_every_lower_bound():
    ours, _ = matrix.read_pins(ROOT / "constraints" / "lowest.txt")
    bounds = matrix.lower_bounds(ROOT / "requirements.txt", ROOT / "requirements-test.txt")
    assert len(bounds) > 20
    for name, bound in bounds:
        if name not in ("torch", "torchvision"):
            assert ours[matrix.canonical(name)][1] == bound, name


def test_the_makefile_and_the_readme_take_the_sets_from_the_script():
    makefile = (ROOT / "Makefile").read_text()
    assert "MATRIX ?= $(shell $(PYTHON) scripts/constraints_matrix.py sets)" in makefile
    assert "constraints-matrix:" in makefile
    readme = (ROOT / "README.md").read_text()
    supported = readme.split("## Supported versions", 1)[1].split("\n## ", 1)[0]
    for version_set in matrix.SETS:
        assert f"`constraints/{version_set.name}.txt`" in supported, version_set.name


@pytest.mark.parametrize("command, expected", [(["sets"], "colab-2026.08 colab-2026.01 lowest"),
                                               (["python", "colab-2026.08"], "3.13"),
                                               (["check"], "")])
def test_command_line(command, expected):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "constraints_matrix.py"),
                          *command], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
