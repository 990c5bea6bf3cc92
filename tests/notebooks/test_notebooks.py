"""Notebooks are stored clean and open the same way: title, Colab badge, shared setup cell."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from helpers import REPOSITORY
from helpers.setup.notebook import SETUP_CELL

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_notebooks_exist_and_are_numbered_in_order():
    assert NOTEBOOKS, "no notebooks found"
    numbers = []
    for path in NOTEBOOKS:
        match = re.fullmatch(r"(\d\d)_[a-z0-9_]+\.ipynb", path.name)
        assert match, f"{path.name} is not named NN_topic.ipynb"
        numbers.append(int(match.group(1)))
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_valid_and_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has stored outputs"
            assert cell.execution_count is None, f"cell {index} has an execution count"
    assert "widgets" not in notebook.metadata, "widget state stored in metadata"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_title_badge_and_setup_cell(path):
    cells = nbformat.read(path, as_version=4).cells
    first, second = cells[0], cells[1]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    url = (f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/"
           f"notebooks/{path.name}")
    assert f"]({url})" in first.source, "Colab badge missing or pointing elsewhere"
    assert "colab-badge.svg" in first.source
    assert second.cell_type == "code" and second.source == SETUP_CELL
    assert sum(c.source == SETUP_CELL for c in cells) == 1
