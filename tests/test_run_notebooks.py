"""scripts/run_notebooks.py executes a notebook, saves .ipynb and .html, reports weights."""

from __future__ import annotations

from pathlib import Path

import nbformat
from script_loader import load_script

run_notebooks = load_script("run_notebooks")


def _write(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


def test_runs_a_notebook_and_reads_the_weights_lines(tmp_path, capsys):
    path = _write(tmp_path / "01_ok.ipynb",
                  "print('Model: timm vit_x — stand-in: ViT-Tiny')",
                  "print('Model: torchvision vit_b_16 — random weights: arch')")
    out = tmp_path / "build"
    assert run_notebooks.main([str(path), "--out", str(out)]) == 0
    assert (out / "01_ok.ipynb").is_file() and (out / "01_ok.html").is_file()
    executed = nbformat.read(out / "01_ok.ipynb", as_version=4)
    assert run_notebooks._weights_used(executed) == ["timm: stand-in", "torchvision: random"]
    table = capsys.readouterr().out
    assert "| 01_ok.ipynb | ok |" in table and "timm: stand-in, torchvision: random" in table


def test_a_failing_notebook_fails_the_run(tmp_path, capsys):
    path = _write(tmp_path / "02_bad.ipynb", "raise ValueError('boom')")
    assert run_notebooks.main([str(path), "--out", str(tmp_path / "b")]) == 1
    assert "FAILED" in capsys.readouterr().out
