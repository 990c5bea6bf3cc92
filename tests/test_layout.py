"""The package's shape: subpackages that show the architecture, small modules, one name per
meaning, and a map of each subpackage in its docstring and in the README."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "helpers"
MAX_LINES = 400
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_subpackages_are_the_architecture():
    assert SUBPACKAGES == ["data", "evaluation", "exercises", "explorers", "figures", "finetune",
                           "keras", "maps", "models", "setup"]
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__.py", "shapes.py", "tolerances.py"], \
        f"modules outside a subpackage: {flat}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it"


def test_no_two_public_definitions_share_a_name():
    """A function or class defined in two modules under one name would mean two things."""
    defined = defaultdict(list)
    for path in _modules():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                defined[node.name].append(str(path.relative_to(PACKAGE)))
    twice = {name: where for name, where in defined.items() if len(where) > 1}
    assert not twice, f"defined in more than one module: {twice}"


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_subpackage_docstring_maps_its_modules(package):
    init = PACKAGE / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    modules = sorted(p.stem for p in (PACKAGE / package).glob("*.py") if p.stem != "__init__")
    if package == "exercises":  # one module per notebook, named for its topic
        assert "reference_" in doc and "run_check" in doc
        return
    missing = [m for m in modules if f"``{m}``" not in doc]
    assert not missing, f"helpers/{package}/__init__.py does not say what {missing} hold"


def test_the_readme_layout_shows_the_tree():
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    missing = [p for p in SUBPACKAGES if not re.search(rf"\b{p}/", layout)]
    assert not missing, f"README's Layout section lacks {missing}"
