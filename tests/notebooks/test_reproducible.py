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

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04_attention_by_hand.ipynb"
TIMING = re.compile(r"\d+(?:\.\d+)?\s?(?:ms|s)\b")


def text_outputs(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell id, text) per code cell: all it printed, then its text/plain and text/markdown.

    Printed text is joined per cell first: how the kernel splits a cell's stdout into
    stream messages depends on timing, not on the numbers.
    """
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        printed = "".join(o["text"] for o in cell.get("outputs", [])
                          if o.get("output_type") == "stream")
        shown = [o["data"][mime] for o in cell.get("outputs", []) for mime in
                 ("text/plain", "text/markdown") if mime in o.get("data", {})]
        shown = [text for text in shown if "Widget" not in text]  # fresh model ids each run
        texts.append((cell.id, TIMING.sub("<time>", "\n".join([printed, *shown]))))
    return texts


def run_once() -> list[tuple[str, str]]:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return text_outputs(notebook)


@pytest.mark.slow
def test_notebook_04_twice_gives_identical_numbers() -> None:
    first, second = run_once(), run_once()
    assert sum(bool(text.strip()) for _, text in first) > 10, "notebook 04 should print numbers"
    assert any(re.search(r"\d\.\d+e-\d+", text) for _, text in first), "no errors printed?"
    for (cell_a, a), (cell_b, b) in zip(first, second, strict=True):
        assert (cell_a, a) == (cell_b, b), f"{cell_a} printed different numbers"


def test_comparison_ignores_chunking_and_timings_but_not_numbers() -> None:
    def notebook(*streams: str, shown: str = "0.25") -> nbformat.NotebookNode:
        cell = nbformat.v4.new_code_cell("x")
        cell.id = "cell-01"
        cell.outputs = [nbformat.v4.new_output("stream", text=t) for t in streams]
        cell.outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": shown},
                                                   execution_count=1))
        nb = nbformat.v4.new_notebook()
        nb.cells = [cell]
        return nb

    base = text_outputs(notebook("error 2.5e-06\n", "took 12.3 ms\n"))
    assert text_outputs(notebook("error 2.5e-06\ntook 7 ms\n")) == base
    assert text_outputs(notebook("error 2.6e-06\n", "took 12.3 ms\n")) != base
    assert text_outputs(notebook("error 2.5e-06\n", "took 12.3 ms\n", shown="0.26")) != base
