"""A notebook ``assert`` must hold for every model the notebook can load and every run it makes.

CI runs each notebook in smoke mode with the stand-in weights (nbval) and once with random
weights (tests/notebooks/test_offline_notebooks.py). Neither sees the branches a student's run takes
with real checkpoints or at full size, so an assert hidden there can stop a student in Colab
while CI stays green. Three checks, cheap enough for every CI run:

1. **Statically**, no ``assert`` sits under an ``if`` on the weights (``.kind``, ``TRAINED``,
   ``DINO_IS_REAL``) or on the run's size (``.smoke``, ``SMOKE``): that is how a claim that
   depends on the weights or the data hides. Such claims are printed as observations with their
   numbers instead, and tests/notebooks/test_notebook_claims.py checks the stand-in's values.
2. **Dynamically**, notebooks 01-05 and 07 run in one fresh process (tests/notebook_runner.py)
   with the *full* settings (``VIT_NOTEBOOKS_SMOKE`` unset) and random tiny weights saved as the
   offline stand-in: every load reports ``kind == "stand-in"``, so every cell takes the branch it
   takes with trained weights, on weights that know nothing. The runner executes every assert
   whose value depends on the weights or the run's size, with the cells it needs (the rest is
   weight-independent and left to nbval); each must pass. The data loader is capped at a few
   dozen images. (Notebook 08, issue 23's, is not run here.)
3. Notebook 06 trains for minutes at full size, so its **settings cells** (sizes, batches,
   recipes) run here for each setting it knows (smoke mode, a CPU, a GPU), on stand-in arrays of
   the real sizes, and the optimiser updates of every run it compares must reach its
   ``MIN_UPDATES`` (the notebook asserts the same after each run).
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUN_IN_FULL = [p for p in NOTEBOOKS if p.name[:2] in {"01", "02", "03", "04", "05", "07"}]
KERAS = ROOT / "notebooks" / "06_keras_vit_from_scratch.ipynb"

WEIGHT_NAMES = {"TRAINED", "DINO_IS_REAL", "SMOKE"}    # names that say which weights / run size
WEIGHT_ATTRIBUTES = {"kind", "smoke"}                  # loaded.kind, ENV.smoke


def _depends_on_the_run(test: ast.expr) -> bool:
    return any((isinstance(node, ast.Name) and node.id in WEIGHT_NAMES)
               or (isinstance(node, ast.Attribute) and node.attr in WEIGHT_ATTRIBUTES)
               for node in ast.walk(test))


def guarded_asserts(source: str) -> list[int]:
    """Line numbers of the asserts inside an ``if`` whose condition reads the weights' kind
    or the run's size (either branch)."""
    found = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Assert) and guarded:
            found.append(node.lineno)
        inside = guarded or (isinstance(node, ast.If | ast.While)
                             and _depends_on_the_run(node.test))
        for child in ast.iter_child_nodes(node):
            visit(child, inside if child is not getattr(node, "test", None) else guarded)

    visit(ast.parse(source), False)
    return found


def test_the_static_check_sees_guarded_asserts_in_either_branch():
    source = ("if loaded.kind != 'random':\n    assert x\nelse:\n    assert y\n"
              "if TRAINED:\n    for m in ms:\n        assert m\n"
              "if ENV.smoke:\n    print(1)\nassert z\nif version >= 5:\n    assert w\n")
    assert guarded_asserts(source) == [2, 4, 7]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_assert_hangs_on_the_weights_or_the_run_size(path: Path):
    cells = nbformat.read(path, as_version=4).cells
    guarded = [f"cell {i} ({c.get('id')}), line {line}" for i, c in enumerate(cells)
               if c.cell_type == "code" for line in guarded_asserts(c.source)]
    assert not guarded, ("asserts that only some weights or some runs reach; print them as "
                         "observations and check the stand-in in test_notebook_claims.py: "
                         f"{guarded}")


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory) -> dict:
    """Notebooks 01-05 and 07, full settings, random tiny weights as the stand-in: results."""
    out = tmp_path_factory.mktemp("full") / "runs.json"
    subprocess.run([sys.executable, str(ROOT / "tests" / "notebook_runner.py"), str(out),
                    *map(str, RUN_IN_FULL)], check=True, timeout=900, cwd=ROOT)
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", RUN_IN_FULL, ids=[p.name for p in RUN_IN_FULL])
def test_asserts_hold_in_full_settings_with_random_weights(full_runs: dict, path: Path):
    run = full_runs[path.name]
    assert run["status"] == "ok", f"{run['status']}\n--- printed before it:\n{run['printed']}"
    if run["cells"]:                           # the trained-weights branches were the ones taken
        assert "stand-in" in run["printed"] and "smoke mode" not in run["printed"]


def _cell(cells: list, marker: str) -> str:
    found = [c.source for c in cells if c.cell_type == "code" and marker in c.source]
    assert len(found) == 1, f"notebook 06 should have one code cell with {marker!r}"
    return found[0]


def _line(cells: list, start: str) -> str:
    found = [line for c in cells if c.cell_type == "code" for line in c.source.splitlines()
             if line.startswith(start)]
    assert len(found) == 1, f"notebook 06 should have one line starting {start!r}"
    return found[0]


@pytest.mark.parametrize(("smoke", "device"), [(True, "cpu"), (False, "cpu"), (False, "cuda")],
                         ids=["smoke", "cpu", "gpu"])
def test_06_every_compared_run_makes_real_updates_in_every_setting(smoke: bool, device: str):
    from helpers.data.datasets import ImageDataset, stratified_split
    from helpers.keras.training import IMPROVED_RECIPE, SEED_RECIPE

    def load_cifar100(train_size=None, test_size=None, seed=0):   # zeros of the real sizes
        n_train, n_test = train_size or 50_000, test_size or 10_000
        classes = 10 if smoke else 100                             # smoke: the offline CIFAR-10
        y_train, y_test = np.arange(n_train) % classes, np.arange(n_test) % classes
        x_train = np.broadcast_to(np.zeros((1, 32, 32, 3), np.uint8), (n_train, 32, 32, 3))
        x_test = np.broadcast_to(np.zeros((1, 32, 32, 3), np.uint8), (n_test, 32, 32, 3))
        return ImageDataset("stand-in", x_train, y_train, x_test, y_test,
                            [str(i) for i in range(classes)], "zeros of the real sizes")

    cells = nbformat.read(KERAS, as_version=4).cells
    ns = {"ENV": types.SimpleNamespace(smoke=smoke, device=device, online=False), "np": np,
          "SEED": 0, "load_cifar100": load_cifar100, "stratified_split": stratified_split,
          "SEED_RECIPE": SEED_RECIPE, "IMPROVED_RECIPE": IMPROVED_RECIPE}
    sizes = _cell(cells, "SIZES = dict(").replace(
        "from helpers.data.datasets import load_cifar100, stratified_split", "")
    for source in (sizes, _cell(cells, "learning_rate = 0.001"), _line(cells, "BATCH = "),
                   _line(cells, "MICRO_BATCH = "), _line(cells, "accumulate = "),
                   "from dataclasses import replace", _line(cells, "seed_recipe = "),
                   _line(cells, "improved_recipe = ")):
        exec(source, ns)  # noqa: S102 - the notebook's own cells
    n, sizes_ = len(ns["x_train"]), ns["SIZES"]
    micro, accumulate = ns["MICRO_BATCH"], ns["accumulate"]
    seed_updates = ns["EPOCHS"] * math.ceil(n / micro) // accumulate
    ablation_updates = sizes_["ablation_epochs"] * math.ceil(n / micro) // accumulate
    improved_updates = ns["IMPROVED_EPOCHS"] * math.ceil(n / ns["improved_recipe"].batch_size)
    assert ns["seed_recipe"].batch_size == ns["BATCH"] == micro * accumulate
    assert min(seed_updates, ablation_updates, improved_updates) >= ns["MIN_UPDATES"], (
        seed_updates, ablation_updates, improved_updates)
    if not smoke:   # outside smoke mode the recipes are the seed's and the improved one, unchanged
        assert ns["seed_recipe"] == SEED_RECIPE and ns["improved_recipe"] == IMPROVED_RECIPE
