"""Two runs of notebook 04 print the same numbers: its lessons do not depend on luck.

Notebook 04 asserts its claims (patch embedding = unfold @ weights, the model by hand =
the model, ...) and prints the numbers behind them. This executes it twice in fresh
kernels and compares every text output of every code cell. Only wall-clock timings
(``12.3 ms``) are masked; everything else, every error, maximum and count, must be equal
character for character.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "04_attention_by_hand.ipynb"
TIMING = re.compile(r"\d+(?:\.\d+)?\s?(?:ms|s)\b")


def text_outputs(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell id, text) for every stream and text/plain or text/markdown output."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append((cell.id, output["text"]))
            for mime in ("text/plain", "text/markdown"):
                if mime in output.get("data", {}):
                    texts.append((cell.id, output["data"][mime]))
    return [(cell_id, TIMING.sub("<time>", text)) for cell_id, text in texts
            if "Widget" not in text]  # widget reprs carry a fresh model id each run


def run_once() -> list[tuple[str, str]]:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return text_outputs(notebook)


@pytest.mark.slow
def test_notebook_04_twice_gives_identical_numbers() -> None:
    first, second = run_once(), run_once()
    assert len(first) > 20, "notebook 04 should print its numbers"
    assert any(re.search(r"\d\.\d+e-\d+", text) for _, text in first), "no errors printed?"
    for (cell_a, a), (cell_b, b) in zip(first, second, strict=True):
        assert (cell_a, a) == (cell_b, b), f"{cell_a} printed different numbers"
