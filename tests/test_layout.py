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


#: Modules tested through another module's test file, and why (everything else has
#: tests/<subpackage>/test_<module>.py beside helpers/<subpackage>/<module>.py).
TESTED_THROUGH = {
    "evaluation/faithfulness.py": "tests/test_faithfulness.py (notebook 08's prose names that "
                                  "path; it moves when the prose does)",
    "figures/arrays.py": "tests/figures/* (as_array is every figure's input conversion)",
    "figures/preprocessing.py": "tests/data/test_preprocessing.py (the figure of the pipeline)",
    "finetune/checkpoints.py": "tests/finetune/test_loop.py (saving and resuming a run)",
    "finetune/evaluation.py": "tests/finetune/test_loop.py, test_recipes.py (evaluate per epoch)",
    "finetune/methods.py": "tests/finetune/test_features.py, test_freezing.py, test_data.py",
    "keras/attention.py": "tests/keras/test_model.py (one file for the Keras ViT's pieces)",
    "keras/augment.py": "tests/keras/test_model.py",
    "keras/backend.py": "tests/keras/test_model.py",
    "keras/checkpoints.py": "tests/keras/test_model.py",
    "keras/training.py": "tests/keras/test_model.py",
    "keras/estimate.py": "tests/setup/test_run_time.py (the run-time estimate it feeds)",
    "models/hub.py": "tests/models/test_loading.py and tests/test_online_loading.py (a local hub)",
    "models/loaded.py": "tests/finetune/test_measures.py, test_recipes.py, every loading test",
    "models/libraries/timm_vit.py": "tests/models/libraries/test_base.py (every adapter against "
                                    "the one protocol)",
    "models/libraries/torchvision_vit.py": "tests/models/libraries/test_base.py",
    "models/libraries/transformers_vit.py": "tests/models/libraries/test_base.py",
}


def test_every_module_has_its_test_file():
    """tests/ mirrors helpers/: a module's tests are where a reader would look for them."""
    tests = ROOT / "tests"
    missing, stale = [], []
    for path in _modules():
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py" or len(relative.parts) == 1 and path.stem in ("shapes",
                                                                                    "tolerances"):
            if path.name != "__init__.py" and not (tests / f"test_{path.name}").is_file():
                missing.append(str(relative))
            continue
        mirror = tests / relative.parent / f"test_{path.name}"
        key = relative.as_posix()
        if mirror.is_file():
            if key in TESTED_THROUGH:
                stale.append(key)
        elif key not in TESTED_THROUGH:
            missing.append(f"{key} (expected {mirror.relative_to(ROOT)})")
    unknown = [key for key in TESTED_THROUGH if not (PACKAGE / key).is_file()]
    assert not missing, f"modules without their test file: {missing}"
    assert not stale and not unknown, f"TESTED_THROUGH is out of date: {stale + unknown}"
