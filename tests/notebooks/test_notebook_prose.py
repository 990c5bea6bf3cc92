"""What the notebooks' prose points to exists, and every notebook ends the same way.

- Every "notebook NN" (also "notebooks 04–07", "notebooks 01, 04 and 05") in the notebooks and
  the READMEs names a notebook that is on disk, and each "What's next" names the notebook after
  it when there is one.
- Every file path the notebooks and the READMEs name (``helpers/...``, ``scripts/...``,
  ``tests/...``, ``docs/...``, ``notebooks/...``, ``constraints/...``, ``.ci/...``) exists, and
  every dotted ``helpers.`` name in their prose imports.
- Notebooks 01-07 (and any later notebook that has the section) close with "## Takeaways":
  three to five sentences a student should be able to say afterwards, and two "why"
  questions to answer in words, placed before the exercises.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("[0-9][0-9]_*.ipynb"))
ENGLISH = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ON_DISK = {int(p.name[:2]) for p in ENGLISH}
TAKEAWAYS = "## Takeaways"
REQUIRED_TAKEAWAYS = range(1, 8)                     # notebooks 01-07; later ones if they have it
READMES = sorted(ROOT.glob("README*.md"))               # README.md, and its translations

# "notebook 05", "Notebooks 04–07", "notebooks 01, 04 and 05", "notebooks 01–05 and 07"
REFERENCE = re.compile(r"\b[Nn]otebooks? (\d\d(?:\s*[–-]\s*\d\d)?(?:(?:,\s*|\s+and\s+|\s+or\s+)"
                       r"\d\d(?:\s*[–-]\s*\d\d)?)*)\b")
# ASCII only: a Korean particle written straight after a path (`notebooks/ko/와`) is not part of
# it; `NN_*` is the prose's placeholder for "any notebook" and is checked as a glob.
PATH = re.compile(r"(?<![\w/.$-])((?:helpers|scripts|tests|docs|notebooks|constraints|\.ci|"
                  r"translations)/[A-Za-z0-9_./*-]*[A-Za-z0-9_/*])", re.ASCII)
DOTTED = re.compile(r"(?<![\w.])(helpers(?:\.\w+)+)")


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT / "notebooks")) for p in paths]


def _texts(path: Path) -> list[tuple[str, str]]:
    """(where, text) for every cell of a notebook, or the whole of a Markdown file."""
    if path.suffix == ".md":
        return [(path.name, path.read_text(encoding="utf-8"))]
    cells = nbformat.read(path, as_version=4).cells
    return [(f"{path.name} cell {i} ({c.get('id')})", c.source) for i, c in enumerate(cells)]


def _numbers(found: str) -> list[int]:
    """The notebook numbers in one match: ranges expanded."""
    numbers = []
    for part in re.split(r",\s*|\s+and\s+|\s+or\s+", found):
        ends = [int(n) for n in re.findall(r"\d\d", part)]
        numbers += list(range(ends[0], ends[-1] + 1))
    return numbers


def test_the_reference_pattern_reads_lists_and_ranges():
    text = ("Notebook 09 fine-tunes; notebooks 04–07 drew maps; notebooks 01, 04 and 05 use it; "
            "notebooks 01–05 and 07 take longer; Jupyter Notebook 7 works.")
    assert [_numbers(m) for m in REFERENCE.findall(text)] == [
        [9], [4, 5, 6, 7], [1, 4, 5], [1, 2, 3, 4, 5, 7]]


@pytest.mark.parametrize("path", [*NOTEBOOKS, *READMES],
                         ids=[*_ids(NOTEBOOKS), *(p.name for p in READMES)])
def test_every_notebook_reference_is_a_notebook_on_disk(path: Path):
    missing = [f"{where}: notebook {n:02d} ({match!r})" for where, text in _texts(path)
               for match in REFERENCE.findall(text) for n in _numbers(match) if n not in ON_DISK]
    assert not missing, f"no such notebook in notebooks/ ({sorted(ON_DISK)} are): {missing}"


@pytest.mark.parametrize("path", ENGLISH, ids=_ids(ENGLISH))
def test_whats_next_names_the_next_notebook(path: Path):
    number = int(path.name[:2])
    cells = [c.source for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "markdown" and c.source.startswith("## What's next")]
    assert len(cells) == 1, "one '## What's next' cell"
    named = {n for match in REFERENCE.findall(cells[0]) for n in _numbers(match)}
    if number + 1 in ON_DISK:
        assert number + 1 in named, f"What's next should name notebook {number + 1:02d}"
    else:
        assert not named - ON_DISK, f"What's next names missing notebooks {sorted(named - ON_DISK)}"


def _exists(named: str) -> bool:
    """Whether a path named in prose exists; ``NN_*`` (any notebook) must match a file."""
    pattern = named.rstrip("/").replace("NN_", "[0-9][0-9]_")
    if "*" in pattern or "[" in pattern:
        return any(ROOT.glob(pattern))
    return (ROOT / pattern).exists()


def test_the_path_pattern_stops_at_korean_and_reads_placeholders():
    text = ("`notebooks/ko/NN_*.ipynb`는 notebooks/ko/와 helpers/models/convert.py에서 "
            "(scripts/nothing_here.py)")
    assert PATH.findall(text) == ["notebooks/ko/NN_*.ipynb", "notebooks/ko/",
                                  "helpers/models/convert.py", "scripts/nothing_here.py"]
    assert [_exists(p) for p in PATH.findall(text)] == [True, True, True, False]


@pytest.mark.parametrize("path", [*NOTEBOOKS, *READMES],
                         ids=[*_ids(NOTEBOOKS), *(p.name for p in READMES)])
def test_every_path_named_exists(path: Path):
    named = {match for _, text in _texts(path) for match in PATH.findall(text)}
    missing = sorted(p for p in named if not _exists(p))
    assert not missing, f"{path.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("path", [*ENGLISH, ROOT / "README.md"], ids=[*_ids(ENGLISH), "README.md"])
def test_every_helpers_name_in_the_prose_imports(path: Path):
    texts = [(where, text) for where, text in _texts(path)]
    if path.suffix == ".ipynb":   # code cells import for themselves; the prose is not run
        cells = nbformat.read(path, as_version=4).cells
        texts = [t for t, c in zip(texts, cells, strict=True) if c.cell_type == "markdown"]
    broken = []
    for where, text in texts:
        for dotted in sorted(set(DOTTED.findall(text))):
            parts = dotted.split(".")
            for cut in range(len(parts), 0, -1):   # the longest importable module, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                    break
                except ImportError:
                    continue
            try:
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                broken.append(f"{where}: {dotted}")
    assert not broken, f"these names do not resolve: {broken}"


def _takeaways(path: Path) -> tuple[int | None, int | None, str]:
    cells = nbformat.read(path, as_version=4).cells
    heads = [i for i, c in enumerate(cells)
             if c.cell_type == "markdown" and c.source.startswith(TAKEAWAYS)]
    assert len(heads) <= 1, f"more than one '{TAKEAWAYS}' cell"
    exercises = next((i for i, c in enumerate(cells)
                      if c.cell_type == "markdown" and c.source.startswith("## Exercises")), None)
    return (heads[0] if heads else None), exercises, cells[heads[0]].source if heads else ""


@pytest.mark.parametrize("path", ENGLISH, ids=_ids(ENGLISH))
def test_takeaways_close_the_lesson_before_the_exercises(path: Path):
    at, exercises, text = _takeaways(path)
    if at is None:
        assert int(path.name[:2]) not in REQUIRED_TAKEAWAYS, f"no '{TAKEAWAYS}' section"
        return
    assert text.splitlines()[0] == TAKEAWAYS, f"the heading is exactly '{TAKEAWAYS}'"
    if exercises is not None:
        assert at < exercises, "the takeaways come before the exercises"
    sentences = [line for line in text.splitlines() if line.startswith("- ")]
    questions = [line for line in text.splitlines() if re.match(r"\d\. ", line)]
    assert 3 <= len(sentences) <= 5, f"{len(sentences)} takeaways; write three to five"
    assert len(questions) == 2, f"{len(questions)} questions; write two"
    for question in questions:
        assert question[3:].startswith("Why") and question.endswith("?"), question
    assert "```" not in text, "the questions are answered in words, without code"
