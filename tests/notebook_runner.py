"""Run notebooks' code cells in one fresh process, in full settings, with random tiny weights.

Used by tests/notebooks/test_notebook_asserts.py (it runs this file as a script, so nothing a
notebook changes, such as ``torch.set_grad_enabled(False)``, leaks into the test process):

    python tests/notebook_runner.py OUT.json NOTEBOOK.ipynb [NOTEBOOK.ipynb ...]

What it sets up before the first cell:

- **Random weights on the real checkpoints' code path.** A randomly initialised timm
  ``vit_tiny_patch16_224`` is saved under the offline stand-in's file name in a temporary
  folder, and ``VIT_NOTEBOOKS_WEIGHTS`` points there. Every ``load(...)`` then reports
  ``kind == "stand-in"``, so each notebook takes the branches it takes with trained weights
  (``if loaded.kind != "random": ...``), but on weights that have learned nothing: an assert
  that depends on the weights fails here. ViT-Tiny keeps every forward pass cheap.
- **Full settings.** ``VIT_NOTEBOOKS_SMOKE`` is unset, so every ``if ENV.smoke`` takes the
  branch a student's run takes. The CIFAR-10 loader is capped at 40 training and 20 test
  images: the same branch and code, on fewer images.
- Offline (``VIT_NOTEBOOKS_OFFLINE=1``); ``display`` draws nothing; figures are built but
  never rendered (Agg backend).

Which cells run: the slice of the notebook its run-dependent asserts need
(:func:`run_dependent_slice`). A value is *run-dependent* if it comes, through any chain of
names, from a ``load(...)`` call, a weights' ``.kind``, ``ENV.smoke`` or a flag made from them
(``TRAINED``, ``DINO_IS_REAL``, ``SMOKE``); every cell with an ``assert`` on such a value runs,
with every earlier cell that binds or changes a name it needs. Cells whose asserts cannot
depend on the weights or the run's size (meta-device cost counts, exercise checks, pure
configuration) are left to nbval. The analysis is by name and on the safe side: a reused name
pulls in more cells, never fewer.

Each notebook runs in its own namespace, cells in order, with the notebook's folder as working
directory; torch uses one thread. The JSON result holds, per notebook, ``status`` ("ok" or the
failing cell's id and the error), ``seconds``, ``cells`` (the ids run), the five slowest cells
and what the cells printed (the last 4,000 characters).
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

CAP = {"train_size": 40, "test_size": 20}


def random_stand_in(folder: Path) -> Path:
    """Save a randomly initialised ViT-Tiny/16 as the stand-in checkpoint in ``folder``."""
    import timm
    import torch
    from safetensors.torch import save_file

    from helpers.setup.config import STAND_IN_FILENAME

    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    path = folder / STAND_IN_FILENAME
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def cap_datasets() -> None:
    """Cap the CIFAR-10 loader's sizes (the notebooks import it by name from the module)."""
    from helpers.data import datasets

    original = datasets.load_cifar10

    def capped(train_size: int = 9000, test_size: int = 1000, seed: int = 0):
        return original(min(train_size, CAP["train_size"]), min(test_size, CAP["test_size"]), seed)

    datasets.load_cifar10 = capped


# ----------------------------------------------------------------------------- the slice

RUN_NAMES = {"TRAINED", "DINO_IS_REAL", "SMOKE"}      # flags a notebook derives from the run
# What differs between CI's runs and a student's: the weights and the run's size. (The device and
# the network are the same in both here, so values derived only from them are not rerun.)


def _reads_the_run(node: ast.AST) -> bool:
    """Whether ``node`` reads what the run decided: the weights (a ``load(...)`` call, their
    ``.kind``), smoke mode (``ENV.smoke``), or a flag derived from them."""
    return any((isinstance(n, ast.Name) and n.id in RUN_NAMES)
               or (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "load")
               or (isinstance(n, ast.Attribute) and n.attr == "kind")
               or (isinstance(n, ast.Attribute) and n.attr == "smoke"
                   and isinstance(n.value, ast.Name) and n.value.id == "ENV")
               for n in ast.walk(node))


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Subscript | ast.Attribute | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _imported(node: ast.AST) -> set[str]:
    return {(a.asname or a.name).split(".")[0] for n in ast.walk(node)
            if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}


def _bound(node: ast.AST) -> set[str]:
    """Names a statement binds or assigns into: ``x = ``, ``x[i] = ``, ``x.a = ``, loop and
    ``with`` targets, imports, definitions."""
    names = _imported(node)
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, ast.Subscript | ast.Attribute) and isinstance(n.ctx, ast.Store):
            names.add(_root(n))
        elif isinstance(n, ast.FunctionDef | ast.ClassDef):
            names.add(n.name)
    return names - {None}


def _touched(node: ast.AST, modules: frozenset[str]) -> set[str]:
    """:func:`_bound`, and the objects whose methods it calls (``x.f(...)`` may change ``x``),
    imported modules excepted."""
    called = {_root(n.func) for n in ast.walk(node)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    return _bound(node) | ((called - {None}) - modules)


def _local(node: ast.AST) -> set[str]:
    """Names ``node`` binds for itself before reading them: loop and comprehension variables,
    lambda and function parameters."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.For | ast.comprehension):
            names |= {t.id for t in ast.walk(n.target) if isinstance(t, ast.Name)}
        elif isinstance(n, ast.Lambda | ast.FunctionDef):
            names |= {a.arg for a in ast.walk(n.args) if isinstance(a, ast.arg)}
    return names


def _read(node: ast.AST) -> set[str]:
    """Names ``node`` reads from outside itself."""
    loaded = {n.id for n in ast.walk(node)
              if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loaded - _local(node)


def run_dependent_slice(sources: list[str]) -> list[int]:
    """Indexes of the cells to run: every cell with an ``assert`` that reads a value which
    (through any chain of names) depends on what the run decided (the weights, their kind,
    smoke mode), and every earlier cell that binds or changes a name those cells read, transitively.
    The first cell (the setup cell, which makes ``ENV``) is always in. An empty list: no
    assert depends on the run."""
    trees = [ast.parse(s) for s in sources]
    modules = frozenset().union(*map(_imported, trees))
    tainted: set[str] = set()
    for tree in trees:                     # taint flows forward, one statement at a time
        for statement in tree.body:
            if _reads_the_run(statement) or _read(statement) & tainted:
                tainted |= _bound(statement)
            else:
                tainted -= _bound(statement)              # rebound from untainted values
    targets = [i for i, tree in enumerate(trees)
               if any(_reads_the_run(n) or _read(n) & tainted
                      for n in ast.walk(tree) if isinstance(n, ast.Assert))]
    chosen = set(targets)
    wanted = set().union(*(_read(trees[i]) for i in targets))
    for i in range(max(targets, default=-1), -1, -1):     # walk back: who binds what is read
        if i in chosen or _touched(trees[i], modules) & wanted:
            chosen.add(i)
            wanted |= _read(trees[i])
    return sorted(chosen | {0}) if chosen else []


def run_notebook(path: Path) -> dict:
    """Execute the run-dependent slice of ``path`` in a fresh namespace; stop at the first error."""
    import nbformat

    code_cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    chosen = set(run_dependent_slice([c.source for c in code_cells]))
    cells = [c for i, c in enumerate(code_cells) if i in chosen]
    namespace = {"__name__": "__main__", "display": lambda *args, **kwargs: None}
    printed = io.StringIO()
    start, status, slowest = time.perf_counter(), "ok", []
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        for cell in cells:
            code = compile(cell.source, f"{path.name} {cell.get('id')}", "exec")
            began = time.perf_counter()
            try:
                with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                    exec(code, namespace)  # noqa: S102 - the notebooks are this project's own
            except BaseException as err:  # noqa: BLE001 - report whatever stopped the notebook
                frames = traceback.format_exception(err)
                status = (f"{cell.get('id')}: {type(err).__name__}: {err}\n"
                          + "".join(frames[-6:]))
                break
            slowest.append((round(time.perf_counter() - began, 1), cell.get("id")))
    finally:
        os.chdir(cwd)
    return {"status": status, "seconds": round(time.perf_counter() - start, 1),
            "cells": [c.get("id") for c in cells],
            "slowest": sorted(slowest, reverse=True)[:5], "printed": printed.getvalue()[-4000:]}


def main(out: Path, notebooks: list[Path]) -> None:
    # one thread: the work is small (ViT-Tiny), and CI runs two test workers on two cores
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    os.environ.pop("VIT_NOTEBOOKS_SMOKE", None)
    os.environ["VIT_NOTEBOOKS_OFFLINE"] = "1"
    os.environ.setdefault("KERAS_BACKEND", "torch")
    os.environ["MPLBACKEND"] = "Agg"
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    with tempfile.TemporaryDirectory() as folder:
        random_stand_in(Path(folder))
        os.environ["VIT_NOTEBOOKS_WEIGHTS"] = folder
        cap_datasets()
        results = {path.name: run_notebook(path) for path in notebooks}
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(p).resolve() for p in sys.argv[2:]])
