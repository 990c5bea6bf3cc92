"""The Korean edition (notebooks/ko/) is generated, current, and the English code untouched.

(a) regenerating gives byte-identical files; (b) every English piece has a translation that is
not fuzzy; (c) each Korean code cell has the English cell's tokens, comments and translated
string literals aside; (d) glossary, style and CommonMark lint
(tests/notebooks/test_korean_lint.py);
(e) a Korean title renders with no missing glyph (tests/setup/test_korean.py).
"""

from __future__ import annotations

import io
import json
import tokenize
from pathlib import Path

import nbformat
import polib
import pytest
from script_loader import load_script

from helpers import REPOSITORY
from helpers.setup.notebook import SETUP_CELL

edition = load_script("korean_edition")
ROOT = Path(__file__).resolve().parents[2]
ENGLISH = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KOREAN = sorted((ROOT / "notebooks" / "ko").glob("*.ipynb"))
UPDATE = "run: python scripts/korean_edition.py update, translate (todo / fill), then build"


@pytest.fixture(scope="module")
def expected() -> dict[Path, str]:
    return edition.expected_files()


@pytest.fixture(scope="module")
def sources() -> dict:
    return edition.english_sources()


def test_a_korean_notebook_for_every_english_one():
    assert [p.name for p in KOREAN] == [p.name for p in ENGLISH]


def test_a_regenerating_gives_byte_identical_files(expected):
    stale = [str(path.relative_to(ROOT)) for path, text in expected.items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    assert not stale, f"generated files out of date: {stale}; run: " \
                      "python scripts/korean_edition.py build (never edit them by hand)"


@pytest.mark.parametrize("name", [p.stem for p in ENGLISH] + ["exercises"])
def test_b_every_english_piece_has_a_current_translation(name, sources):
    pieces = sources[name]
    index = edition._index(edition.load_catalog(name))
    missing = [f"{piece.context} ({state}): {piece.english[:70]!r}" for piece in pieces
               if (state := edition.translation(index, piece.context, piece.english)[0]) != "done"]
    assert not missing, (f"translations/ko/{name}.po lacks {len(missing)} current "
                         f"translations; {UPDATE}:\n" + "\n".join(missing[:20]))


def _tokens(source: str) -> list[tuple[int, str]]:
    """Tokens without comments and line breaks; each string literal (implicit concatenation
    and f-strings included, tokenized in pieces since Python 3.12) as one STRING token."""
    out: list[tuple[int, str]] = []
    depth, start, last_string = 0, None, False
    fstring_start = getattr(tokenize, "FSTRING_START", None)
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(position: tuple[int, int]) -> int:
        return offsets[position[0] - 1] + position[1]

    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if depth:
            depth += (token.type == fstring_start) - (token.type == fstring_end)
            if depth:
                continue
            text, kind = source[start:at(token.end)], tokenize.STRING
        elif token.type == fstring_start and fstring_start is not None:
            depth, start = 1, at(token.start)
            continue
        elif token.type in (tokenize.COMMENT, tokenize.NL):
            continue
        else:
            text, kind = token.string, token.type
        if kind == tokenize.STRING and last_string:
            out[-1] = (tokenize.STRING, out[-1][1] + " " + text)
        else:
            out.append((kind, text))
        last_string = kind == tokenize.STRING
    return out


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_c_korean_code_is_token_identical(path):
    english = edition.read_notebook(path)
    korean = edition.read_notebook(ROOT / "notebooks" / "ko" / path.name)
    translated: dict[str, set[tuple[str, str]]] = {}  # cell id -> (Korean, English) literals
    for entry in edition.load_catalog(path.stem) or []:
        if entry.msgstr and " string " in entry.msgctxt and not entry.obsolete:
            translated.setdefault(entry.msgctxt.split(" ")[0], set()).add(
                (_tokens(f"(\n{entry.msgstr}\n)")[1][1], _tokens(f"(\n{entry.msgid}\n)")[1][1]))
    assert [c["id"] for c in korean["cells"]] == [c["id"] for c in english["cells"]]
    for ours, theirs in zip(korean["cells"], english["cells"], strict=True):
        assert ours["cell_type"] == theirs["cell_type"]
        if theirs["cell_type"] != "code":
            continue
        mine, original = _tokens(ours["source"]), _tokens(theirs["source"])
        assert len(mine) == len(original), f"{theirs['id']}: the code differs from the English"
        for a, b in zip(mine, original, strict=True):
            assert a == b or (a[0] == b[0] == tokenize.STRING and (a[1], b[1]) in
                              translated.get(theirs["id"], set())), \
                f"{theirs['id']}: {a[1]!r} is neither the English {b[1]!r} nor its translation"


@pytest.mark.parametrize("path", KOREAN, ids=lambda p: p.stem)
def test_korean_notebook_opens_with_title_badge_and_setup_cell(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    cells = notebook.cells
    url = (f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/"
           f"notebooks/ko/{path.name}")
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert f"]({url})" in cells[0].source, "Colab badge missing or not pointing to notebooks/ko/"
    assert cells[1].cell_type == "code" and cells[1].source == SETUP_CELL
    assert sum(c.source == SETUP_CELL for c in cells) == 1
    assert all(c.outputs == [] for c in cells if c.cell_type == "code")
    assert notebook.metadata["vit_notebooks"]["edition"] == "ko"


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_each_notebook_pair_links_both_ways(path):
    english = edition.read_notebook(path)["cells"][0]["source"]
    korean = edition.read_notebook(ROOT / "notebooks" / "ko" / path.name)["cells"][0]["source"]
    assert f"](ko/{path.name})" in english, "the English title cell must link its Korean one"
    assert f"](../{path.name})" in korean, "the Korean title cell must link the English one"


def test_the_readmes_link_each_other_and_every_korean_notebook():
    readme, korean = (ROOT / "README.md").read_text(), (ROOT / "README.ko.md").read_text()
    assert "(README.ko.md)" in readme and "(README.md)" in korean
    assert "make run" in korean and "make test" in korean
    for path in KOREAN:
        assert f"(notebooks/ko/{path.name})" in korean, path.name


# ----------------------------------------------------------------------------- the machinery


def _notebook(*cells: tuple[str, str, str]) -> dict:
    return {"cells": [{"id": i, "cell_type": t, "source": s, "metadata": {}, "outputs": [],
                       "execution_count": None} if t == "code" else
                      {"id": i, "cell_type": t, "source": s, "metadata": {}}
                      for i, t, s in cells],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_pieces_of_a_code_cell():
    source = ('x = f(1)  # (B, 197, 768)\n# Two lines of\n# explanation here\ny = 2  # one note\n'
              'print(f"the answer is {x:.2f} exactly", y)\nprint("shape", x)\n'
              'def g():\n    """Return the value twice."""\n')
    pieces = edition.cell_pieces({"id": "c", "cell_type": "code", "source": source})
    assert [(p.context, p.english) for p in pieces] == [
        ("c comment 0", "Two lines of\nexplanation here"), ("c comment 1", "one note"),
        ("c string 0", 'f"the answer is {x:.2f} exactly"'),
        ("c string 1", '"""Return the value twice."""')]


def test_update_marks_changed_english_fuzzy_and_removed_obsolete(tmp_path):
    old = _notebook(("m1", "markdown", "## Title\n\nThe model sees patches."),
                    ("m2", "markdown", "A cell that will go away."),
                    ("c1", "code", "x = 1  # a note on x\n"))
    first = edition.merge(edition.notebook_pieces(old), None, "t")
    for entry in first:
        entry.msgstr = {"m1": "## 제목\n\n모델은 패치를 봅니다.", "m2": "사라질 셀입니다.",
                        "c1 comment 0": "x에 대한 메모"}[entry.msgctxt]
    new = _notebook(("m1", "markdown", "## Title\n\nThe model sees 196 patches."),
                    ("c1", "code", "y = 0  # a new note\nx = 1  # a note on x\n"))
    second = edition.merge(edition.notebook_pieces(new), first, "t")
    by = {(e.msgctxt, e.obsolete): e for e in second}
    assert by[("m1", False)].fuzzy and by[("m1", False)].previous_msgid == \
        "## Title\n\nThe model sees patches."
    assert by[("m1", False)].msgstr.startswith("## 제목")  # the old Korean, to be updated
    assert by[("m2", True)].msgstr == "사라질 셀입니다."  # obsolete, kept
    assert by[("c1 comment 1", False)].msgstr == "x에 대한 메모" and not by[
        ("c1 comment 1", False)].fuzzy  # the same comment moved: still translated
    assert not by[("c1 comment 0", False)].msgstr  # new
    index = edition._index(second)
    text = edition.korean_markdown(index, edition.notebook_pieces(new)[0])
    assert text.startswith("## Title\n\n" + edition.MARK_FUZZY) and "196 patches" in text
    code = edition.korean_code(index, new["cells"][1]["source"],
                               edition.notebook_pieces(new)[1:])
    assert code == "y = 0  # [번역 전] a new note\nx = 1  # x에 대한 메모\n"
    by[("m1", False)].msgstr = "## 제목\n\n모델은 패치 196개를 봅니다."
    by[("m1", False)].flags = []
    po_path = tmp_path / "t.po"
    second.save(str(po_path))
    again = polib.pofile(str(po_path))
    assert edition.translation(edition._index(again), "m1",
                               "## Title\n\nThe model sees 196 patches.")[0] == "done"


def test_links_anchors_and_badge_are_mapped_for_notebooks_ko():
    assert edition.map_link("ko/03_cls_embeddings.ipynb") == "../03_cls_embeddings.ipynb"
    assert edition.map_link("04_attention_by_hand.ipynb#Exercises") == \
        "04_attention_by_hand.ipynb#Exercises"
    assert edition.map_link("../README.md") == "../../README.ko.md"
    assert edition.map_link("../docs/figures/a.png") == "../../docs/figures/a.png"
    badge = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks/01_x.ipynb"
    assert edition.map_link(badge).endswith("/blob/main/notebooks/ko/01_x.ipynb")
    korean = edition._with_anchors("## 1. 가중치\n\n본문", "## 1. Weights `carry` labels\n\ntext")
    assert korean.startswith('## <a id="1.-Weights-carry-labels"></a>1. 가중치')


def test_a_bad_string_translation_is_refused():
    edition.check_literal('f"{a} of {b}"', 'f"{b}의 {a}"')  # reordered fields are fine
    for bad in ('f"{a}의 값"', '"{a} {b}"', 'f"{a} {b}', "print(1)"):
        with pytest.raises(ValueError):
            edition.check_literal('f"{a} of {b}"', bad)


def test_messages_json_holds_only_current_translations():
    data = json.loads((ROOT / "helpers" / "exercises" / "messages.ko.json").read_text())
    po = edition.load_catalog("exercises")
    assert data and set(data) <= {e.msgid for e in po if not e.obsolete}
