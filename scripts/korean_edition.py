"""The Korean edition (한국어판): translation catalogs that notice change, and the Korean
notebooks generated from them.

The English notebooks are the only hand-edited notebooks. Each ``notebooks/NN_x.ipynb`` has a
gettext catalog ``translations/ko/NN_x.po`` (any .po editor works on it, polib reads and writes
it), and ``notebooks/ko/NN_x.ipynb`` is generated from the two, never edited by hand. One
catalog entry per translated piece, ``msgctxt`` naming where it sits, ``msgid`` its exact English:

=========  ===================================  ===============================================
kind       msgctxt                              msgid
=========  ===================================  ===============================================
markdown   ``<cell id>``                        the whole markdown cell
comment    ``<cell id> comment <k>``            the k-th comment of a code cell (consecutive
                                                full-line comments are one block), without ``#``
string     ``<cell id> string <k>``             the k-th explaining string literal, as Python
                                                source: arguments of ``print``, figure titles and
                                                axis labels, docstrings of functions in the cell
message    ``<module>.<function> <k>``          ``translations/ko/exercises.po``: the exercise
                                                checks' messages in ``helpers/exercises/*.py``,
                                                f-strings as templates (``{expression}``)
=========  ===================================  ===============================================

Shape comments (``# (B, 197, 768)``), lint directives and strings of fewer than two words are not
extracted. The setup cell is copied as it is (it must be the same cell everywhere).

``update`` compares the English with the catalogs, like msgmerge: an unchanged entry keeps its
translation; English moved elsewhere keeps its translation; changed English keeps the old
translation marked ``fuzzy``, with the previous English beside it (``#| msgid``); an entry whose
English is gone becomes obsolete (``#~``). Until an entry is translated (and not fuzzy), the
Korean notebook shows the English with a visible marker (``번역 대기`` / ``[번역 전]``; strings
stay English). ``build`` also maps links (a link to an English notebook points to its Korean
sibling, ``ko/NN_x.ipynb`` to the English original, other files one folder up), gives every
Korean heading its English heading's anchor (``<a id="...">``), points the Colab badge at
``notebooks/ko/`` and compiles ``exercises.po`` into ``helpers/exercises/messages.ko.json``.

Workflow after the English changes (see README.ko.md)::

    python scripts/korean_edition.py update           # refresh the catalogs: new / fuzzy / obsolete
    python scripts/korean_edition.py todo > todo.txt  # the entries to translate, with their English
    # translate: edit the .po files (msgstr, drop the fuzzy flag), or fill in todo.txt and run
    python scripts/korean_edition.py fill todo.txt
    python scripts/korean_edition.py build            # notebooks/ko/ and messages.ko.json
    python scripts/korean_lint.py                     # glossary and markdown lint (tests too)

``status`` prints, per catalog, how many entries are translated, fuzzy, new and obsolete.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import io
import json
import posixpath
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KOREAN = NOTEBOOKS / "ko"
CATALOGS = ROOT / "translations" / "ko"
EXERCISES = ROOT / "helpers" / "exercises"
MESSAGES_JSON = EXERCISES / "messages.ko.json"
EXERCISE_CATALOG = "exercises"

MARK_NEW = "> **번역 대기**: 아래는 아직 번역하지 않은 영어 원문입니다 (untranslated)."
MARK_FUZZY = ("> **번역 갱신 대기**: 영어 원문이 바뀌어 번역을 고치는 중입니다. 아래는 바뀐 영어 "
              "원문입니다 (outdated translation).")
MARK_COMMENT = "[번역 전] "
GENERATED_NOTE = ("*이 한국어판은 영어 노트북 `notebooks/{name}`과 번역 카탈로그 "
                  "`translations/ko/{stem}.po`에서 `scripts/korean_edition.py`가 생성합니다. "
                  "직접 고치지 말고 [README.ko.md](../../README.ko.md)의 절차를 따르세요.*")

_DIRECTIVE = re.compile(r"^\s*(noqa|type:|pragma|fmt:|ruff:|NBVAL)", re.I)
_GROUPS = re.compile(r"`[^`]*`|\"[^\"]*\"|'[^']*'|\([^()]*\)|\[[^\[\]]*\]")
_WORD = re.compile(r"(?<![\w.])[a-z]{2,}(?![\w])")
_FIGURE_CALLS = {"set_title", "set_xlabel", "set_ylabel", "suptitle", "set_suptitle"}
_FIGURE_KEYWORDS = {"title", "xlabel", "ylabel", "suptitle"}
_RUNNER_CALLS = {"Case", "WrongAnswer", "fail", "require_close", "require_equal", "tensor_error",
                 "run_check", "check_prediction"}
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*$")
_LINK = re.compile(r"(\]\(|\b(?:src|href)=\")([^)\"\s]+)")


@dataclass(frozen=True)
class Piece:
    """One translatable piece of a cell: its catalog entry and, in code, its place.

    Attributes:
        context: The entry's msgctxt.
        english: The exact English (markdown, comment text without ``#``, or literal source).
        kind: ``markdown``, ``comment``, ``string`` or ``message``.
        start, end: Character offsets of the piece in the cell source (code only).
        indent: Column of a full-line comment block; -1 for a comment after code.
    """

    context: str
    english: str
    kind: str
    start: int = 0
    end: int = 0
    indent: int = -1


def _has_words(text: str, minimum: int) -> bool:
    return len(_WORD.findall(text)) >= minimum


def _comment_is_prose(text: str) -> bool:
    """A comment worth translating: words left after shapes, code and quotes are removed."""
    if _DIRECTIVE.match(text):
        return False
    previous = None
    while previous != text:  # nested groups: (a, (b, c))
        previous, text = text, _GROUPS.sub(" ", text)
    return _has_words(text, 1)


def _offsets(source: str) -> list[int]:
    starts, total = [0], 0
    for line in source.splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


def _comment_pieces(source: str, cell_id: str) -> list[Piece]:
    starts = _offsets(source)
    lines = source.splitlines()
    found: list[tuple[int, int, int, bool, str]] = []  # row, col, end col, full line, text
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            (row, col), (_, end) = token.start, token.end
            text = token.string[1:]
            text = text[1:] if text.startswith(" ") else text
            found.append((row, col, end, not lines[row - 1][:col].strip(), text))
    blocks: list[list[tuple[int, int, int, bool, str]]] = []
    for item in found:
        last = blocks[-1][-1] if blocks else None
        if (last and item[3] and last[3] and item[0] == last[0] + 1 and item[1] == last[1]):
            blocks[-1].append(item)
        else:
            blocks.append([item])
    pieces = []
    for block in blocks:
        text = "\n".join(item[4] for item in block)
        if not any(_comment_is_prose(item[4]) for item in block):
            continue
        first, last = block[0], block[-1]
        pieces.append(Piece(f"{cell_id} comment {len(pieces)}", text, "comment",
                            starts[first[0] - 1] + first[1], starts[last[0] - 1] + last[2],
                            first[1] if first[3] else -1))
    return pieces


def _char_offset(lines: list[str], starts: list[int], row: int, byte_col: int) -> int:
    return starts[row - 1] + len(lines[row - 1].encode()[:byte_col].decode())


def _literal_text(node: ast.AST) -> str | None:
    """The words of a str literal or f-string (fields left out), None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return " ".join(v.value for v in node.values if isinstance(v, ast.Constant))
    return None


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _string_nodes(tree: ast.AST) -> list[ast.AST]:
    """Print arguments, figure titles and labels, and docstrings, in source order."""
    nodes = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name == "print":
                nodes += node.args
            elif name in _FIGURE_CALLS:
                nodes += node.args[:1]
            nodes += [k.value for k in node.keywords if k.arg in _FIGURE_KEYWORDS]
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr):
                nodes.append(first.value)
    nodes = [n for n in nodes if (_literal_text(n) or "") and _has_words(_literal_text(n), 2)]
    return sorted(nodes, key=lambda n: (n.lineno, n.col_offset))


def _string_pieces(source: str, cell_id: str) -> list[Piece]:
    lines, starts = source.splitlines(), _offsets(source)
    pieces = []
    for node in _string_nodes(ast.parse(source)):
        start = _char_offset(lines, starts, node.lineno, node.col_offset)
        end = _char_offset(lines, starts, node.end_lineno, node.end_col_offset)
        pieces.append(Piece(f"{cell_id} string {len(pieces)}", source[start:end], "string",
                            start, end))
    return pieces


def _setup_cell() -> str:
    sys.path.insert(0, str(ROOT))
    from helpers.setup.notebook import SETUP_CELL

    return SETUP_CELL


def cell_pieces(cell: dict) -> list[Piece]:
    """The translatable pieces of one notebook cell (none for the setup cell)."""
    source = cell["source"]
    if cell["cell_type"] == "markdown":
        return [Piece(cell["id"], source, "markdown")] if source.strip() else []
    if cell["cell_type"] != "code" or source == _setup_cell():
        return []
    try:
        return _comment_pieces(source, cell["id"]) + _string_pieces(source, cell["id"])
    except (SyntaxError, tokenize.TokenError):  # IPython magics: the cell stays English
        return []


def read_notebook(path: Path) -> dict:
    """A notebook's JSON with each cell's source joined into one string."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        source = cell["source"]
        cell["source"] = "".join(source) if isinstance(source, list) else source
    return notebook


def notebook_pieces(notebook: dict) -> list[Piece]:
    return [piece for cell in notebook["cells"] for piece in cell_pieces(cell)]


def _template(node: ast.AST) -> str:
    """A literal as a catalog template: an f-string's fields become ``{expression}``."""
    if isinstance(node, ast.Constant):
        return node.value
    return "".join(v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}"
                   for v in node.values)


def exercise_pieces() -> list[Piece]:
    """The check messages of ``helpers/exercises/*.py``: strings inside calls to the runner
    (cases, judges' WrongAnswer, hints, passing texts), and strings assigned in check functions;
    one word is enough, and an f-string with fields and punctuation is kept (its fields' values
    are translated at run time)."""
    pieces: list[Piece] = []
    for path in sorted(EXERCISES.glob("*.py")):
        module = path.stem if path.stem != "__init__" else "runner"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in tree.body:
            if not isinstance(function, ast.FunctionDef):
                continue
            found: list[ast.AST] = []
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and _call_name(node) in _RUNNER_CALLS:
                    found += [*node.args, *(k.value for k in node.keywords)]
                elif isinstance(node, ast.Assign) and function.name.startswith("check"):
                    found.append(node.value)
            seen: list[str] = []
            for node in sorted(_flatten(found), key=lambda n: (n.lineno, n.col_offset)):
                text = _literal_text(node) or ""
                template = _template(node)
                fields = isinstance(node, ast.JoinedStr) and text.strip()  # "{x} ({band})"
                if (_has_words(text, 1) or fields) and template not in seen:
                    seen.append(template)
                    pieces.append(Piece(f"{module}.{function.name} {len(seen) - 1}", template,
                                        "message"))
    return pieces


def _flatten(nodes: list[ast.AST]) -> list[ast.AST]:
    """The str literals and f-strings inside ``nodes``, not counting an f-string's own parts."""
    inner = {id(part) for node in nodes for f in ast.walk(node) if isinstance(f, ast.JoinedStr)
             for part in ast.walk(f) if part is not f}
    out, seen = [], set()
    for node in nodes:
        for literal in ast.walk(node):
            if (_literal_text(literal) is not None and id(literal) not in inner
                    and id(literal) not in seen):
                seen.add(id(literal))
                out.append(literal)
    return out


# ----------------------------------------------------------------------------- catalogs


def catalog_path(name: str) -> Path:
    return CATALOGS / f"{name}.po"


def english_sources() -> dict[str, list[Piece]]:
    """Catalog name -> the pieces the English currently has (notebooks and exercises)."""
    sources = {path.stem: notebook_pieces(read_notebook(path))
               for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}
    sources[EXERCISE_CATALOG] = exercise_pieces()
    return sources


def _cell(context: str) -> str:
    return context.split(" ", 1)[0]


def kind_of(context: str) -> str:
    """An entry's kind, read from its msgctxt."""
    if " " not in context:
        return "markdown"
    return next((k for k in ("comment", "string") if f" {k} " in context), "message")


def merge(pieces: list[Piece], old: polib.POFile | None, name: str) -> polib.POFile:
    """A catalog for ``pieces``, keeping what ``old`` translated (msgmerge's rules, see top)."""
    po = polib.POFile(wrapwidth=78)
    po.header = (f"Korean translation of {name} (the Korean edition, notebooks/ko/).\n"
                 "Translate msgstr only; keep code spans, links, numbers and {fields}.\n"
                 "Refresh with: python scripts/korean_edition.py update")
    po.metadata = {"Project-Id-Version": f"vit-notebooks {name}", "Language": "ko",
                   "MIME-Version": "1.0", "Content-Type": "text/plain; charset=UTF-8",
                   "Content-Transfer-Encoding": "8bit", "Plural-Forms": "nplurals=1; plural=0;"}
    olds = [e for e in old if not e.obsolete] if old is not None else []
    by_key = {(e.msgctxt, e.msgid): e for e in olds}
    by_english = {}
    for entry in olds:
        if entry.msgstr and not entry.fuzzy:
            by_english.setdefault(entry.msgid, entry)
    current = {piece.english for piece in pieces}
    used: set[int] = set()
    for piece in pieces:
        entry = polib.POEntry(msgctxt=piece.context, msgid=piece.english, msgstr="",
                              comment=_KIND_NOTES[piece.kind])
        same = by_key.get((piece.context, piece.english))
        moved = by_english.get(piece.english)
        if same is not None:
            entry.msgstr, entry.flags = same.msgstr, list(same.flags)
            entry.previous_msgid = same.previous_msgid if same.fuzzy else None
            used.add(id(same))
        elif moved is not None:
            entry.msgstr = moved.msgstr
            used.add(id(moved))
        else:
            candidates = [e for e in olds if id(e) not in used and e.msgstr
                          and e.msgid not in current and _cell(e.msgctxt) == _cell(piece.context)
                          and kind_of(e.msgctxt) == piece.kind]
            best = max(candidates, default=None, key=lambda e: (
                e.msgctxt == piece.context,
                difflib.SequenceMatcher(None, e.msgid, piece.english).ratio()))
            if best is not None and (best.msgctxt == piece.context or difflib.SequenceMatcher(
                    None, best.msgid, piece.english).ratio() >= 0.6):
                entry.msgstr, entry.flags = best.msgstr, ["fuzzy"]
                entry.previous_msgid = best.previous_msgid if best.fuzzy else best.msgid
                used.add(id(best))
        if entry.fuzzy and entry.previous_msgid == entry.msgid:  # the English changed back
            entry.flags, entry.previous_msgid = [], None
        po.append(entry)
    for entry in olds:  # English that is gone: keep its translation as obsolete
        if id(entry) not in used and entry.msgstr and entry.msgid not in current:
            po.append(polib.POEntry(msgctxt=entry.msgctxt, msgid=entry.msgid,
                                    msgstr=entry.msgstr, obsolete=True))
    if old is not None:
        keys = {(e.msgctxt, e.msgid) for e in po}
        po.extend(e for e in old if e.obsolete and (e.msgctxt, e.msgid) not in keys
                  and e.msgid not in current)
    return po


_KIND_NOTES = {
    "markdown": "markdown cell",
    "comment": "code comment, without '#'",
    "string": "Python literal: same kind, every {field} kept",
    "message": "check message: every {field} kept",
}


def load_catalog(name: str) -> polib.POFile | None:
    path = catalog_path(name)
    return polib.pofile(str(path), wrapwidth=78) if path.is_file() else None


def update() -> dict[str, polib.POFile]:
    """Refresh every catalog from the English; returns them (also saved)."""
    CATALOGS.mkdir(parents=True, exist_ok=True)
    catalogs = {}
    for name, pieces in english_sources().items():
        po = merge(pieces, load_catalog(name), name)
        po.save(str(catalog_path(name)))
        catalogs[name] = po
    return catalogs


def _index(po: polib.POFile | None) -> dict[tuple[str, str], polib.POEntry]:
    return {} if po is None else {(e.msgctxt, e.msgid): e for e in po if not e.obsolete}


def translation(index: dict, context: str, english: str) -> tuple[str, str]:
    """``(state, text)``: ``done`` with the Korean, or ``new`` / ``fuzzy`` with the English."""
    entry = index.get((context, english))
    if entry is None or not entry.msgstr:
        return "new", english
    return ("fuzzy", english) if entry.fuzzy else ("done", entry.msgstr)


# ----------------------------------------------------------------------------- building


def _outside_fences(text: str) -> list[tuple[int, str]]:
    """(index, line) of the lines of markdown that are not inside fenced code."""
    lines, fence = [], None
    for i, line in enumerate(text.split("\n")):
        marker = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
        if marker and (fence is None or marker.group(1)[0] == fence):
            fence = None if fence else marker.group(1)[0]
            continue
        if fence is None:
            lines.append((i, line))
    return lines


def headings(text: str) -> list[str]:
    """The ATX headings' text of a markdown cell, in order."""
    return [m.group(2) for _, line in _outside_fences(text) if (m := _HEADING.match(line))]


def anchor(heading: str) -> str:
    """The id JupyterLab gives a heading: its text content with spaces turned into ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links -> their text
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"(\*\*|__|\*|`)", "", text)
    return text.strip().replace(" ", "-")


def map_link(target: str) -> str:
    """Where a link of the English notebook must point from ``notebooks/ko/``."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # a URL: GitHub/Colab notebooks -> ko/
        return re.sub(r"(/blob/[^/]+/notebooks/)(?=\d\d_)", r"\1ko/", target)
    if target.startswith("#"):
        return target
    path, hash_, fragment = target.partition("#")
    full = posixpath.normpath(posixpath.join("notebooks", path))
    if full.startswith("notebooks/ko/"):  # the English notebook's link to its Korean pair
        mapped = "../" + full[len("notebooks/ko/"):]
    elif re.fullmatch(r"notebooks/\d\d_[^/]+\.ipynb", full):  # another notebook: its Korean one
        mapped = full[len("notebooks/"):]
    elif full == "README.md":
        mapped = "../../README.ko.md"
    else:
        mapped = posixpath.relpath(full, "notebooks/ko")
    return mapped + hash_ + fragment


def map_links(text: str) -> str:
    return _LINK.sub(lambda m: m.group(1) + map_link(m.group(2)), text)


def _with_anchors(korean: str, english: str) -> str:
    """Each Korean heading gets its English heading's anchor, so links work in both."""
    ids = [anchor(h) for h in headings(english)]
    lines = korean.split("\n")
    spots = [i for i, line in _outside_fences(korean) if _HEADING.match(line)]
    if len(spots) != len(ids):
        raise ValueError(f"{len(spots)} headings in the translation, {len(ids)} in the English:\n"
                         f"{english[:200]}")
    for i, anchor_id in zip(spots, ids, strict=True):
        hashes, text = _HEADING.match(lines[i]).groups()
        lines[i] = f'{hashes} <a id="{anchor_id}"></a>{text}'
    return "\n".join(lines)


def _marked(english: str, mark: str) -> str:
    """The English with a visible marker, after its first line when that is a heading."""
    first, sep, rest = english.partition("\n")
    if _HEADING.match(first):
        return f"{first}\n\n{mark}\n\n{rest.lstrip(chr(10))}" if rest.strip() else \
            f"{first}\n\n{mark}"
    return f"{mark}\n\n{english}"


def korean_markdown(index: dict, piece: Piece) -> str:
    state, text = translation(index, piece.context, piece.english)
    if state == "done":
        text = _with_anchors(text, piece.english)
    else:
        text = _marked(piece.english, MARK_NEW if state == "new" else MARK_FUZZY)
    return map_links(text)


def _fields(node: ast.AST) -> list[str]:
    return sorted(ast.unparse(v.value) for v in getattr(node, "values", [])
                  if isinstance(v, ast.FormattedValue))


def check_literal(english: str, korean: str) -> None:
    """A translated literal must be a literal of the same kind with the same fields.

    Raises:
        ValueError: saying what is wrong.
    """
    try:
        theirs, ours = ast.parse(f"(\n{english}\n)", mode="eval").body, \
            ast.parse(f"(\n{korean}\n)", mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"not a Python literal ({err.msg}): {korean}") from None
    if type(ours) is not type(theirs) or _literal_text(ours) is None:
        raise ValueError(f"expected a {type(theirs).__name__} literal like the English: {korean}")
    if _fields(ours) != _fields(theirs):
        raise ValueError(f"fields {_fields(ours)} differ from the English {_fields(theirs)}: "
                         f"{korean}")


def korean_code(index: dict, source: str, pieces: list[Piece]) -> str:
    """A code cell with its comments and explaining strings translated, nothing else changed."""
    for piece in sorted(pieces, key=lambda p: -p.start):
        state, text = translation(index, piece.context, piece.english)
        if piece.kind == "string":
            if state == "done":
                check_literal(piece.english, text)
            replacement = text if state == "done" else piece.english
        else:
            lines = text.split("\n") if state == "done" else \
                [MARK_COMMENT + line if i == 0 else line
                 for i, line in enumerate(piece.english.split("\n"))]
            if piece.indent < 0:
                replacement = "# " + " ".join(line.strip() for line in lines)
            else:
                replacement = ("\n" + " " * piece.indent).join(
                    ("# " + line).rstrip() for line in lines)
        source = source[:piece.start] + replacement + source[piece.end:]
    return source


def _json(notebook: dict) -> str:
    """A notebook as nbformat writes it: sources as lists of lines, sorted keys, indent 1."""
    copy = json.loads(json.dumps(notebook))
    for cell in copy["cells"]:
        cell["source"] = cell["source"].splitlines(keepends=True)
    return json.dumps(copy, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def build_notebook(path: Path, po: polib.POFile | None) -> str:
    """The Korean notebook generated from English ``path`` and its catalog, as file text."""
    notebook = read_notebook(path)
    index = _index(po)
    for number, cell in enumerate(notebook["cells"]):
        pieces = cell_pieces(cell)
        if cell["cell_type"] == "markdown" and pieces:
            cell["source"] = korean_markdown(index, pieces[0])
            if number == 0:
                cell["source"] += "\n\n" + GENERATED_NOTE.format(name=path.name, stem=path.stem)
        elif cell["cell_type"] == "code" and pieces:
            cell["source"] = korean_code(index, cell["source"], pieces)
    notebook["metadata"]["vit_notebooks"] = {
        "edition": "ko", "english": f"notebooks/{path.name}",
        "catalog": f"translations/ko/{path.stem}.po"}
    return _json(notebook)


def messages_json(po: polib.POFile | None) -> str:
    """``helpers/exercises/messages.ko.json``: English template -> Korean, translated only."""
    table = {e.msgid: e.msgstr for e in (po or []) if e.msgstr and not e.fuzzy and not e.obsolete}
    return json.dumps(table, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def expected_files() -> dict[Path, str]:
    """Every generated file and the text it must hold."""
    files = {KOREAN / path.name: build_notebook(path, load_catalog(path.stem))
             for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}
    files[MESSAGES_JSON] = messages_json(load_catalog(EXERCISE_CATALOG))
    return files


def build() -> list[Path]:
    """Write the generated files; remove Korean notebooks whose English one is gone."""
    KOREAN.mkdir(exist_ok=True)
    files = expected_files()
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    for stale in set(KOREAN.glob("*.ipynb")) - set(files):
        stale.unlink()
    return sorted(files)


def status() -> list[tuple[str, int, int, int, int, int]]:
    """Rows of (catalog, entries, translated, fuzzy, new, obsolete)."""
    rows = []
    for name, pieces in english_sources().items():
        po = load_catalog(name)
        index = _index(po)
        states = [translation(index, p.context, p.english)[0] for p in pieces]
        obsolete = sum(1 for e in po if e.obsolete) if po is not None else 0
        rows.append((name, len(pieces), states.count("done"), states.count("fuzzy"),
                     states.count("new"), obsolete))
    return rows


# ----------------------------------------------------------------------------- todo and fill

_HEADER = re.compile(r"^@@ (\S+) (.+?)(?: @@.*)?$")


def todo(names: list[str] | None = None) -> str:
    """The entries still to translate (new or fuzzy), in the format :func:`fill` reads.

    Each block starts ``@@ <catalog> <msgctxt> @@ <kind>, <state>``; lines starting ``@|`` show
    what changed in the English (fuzzy entries) and are ignored by ``fill``. The body is the
    English (new) or the outdated Korean (fuzzy): replace it with the Korean.
    """
    blocks = []
    for name, pieces in english_sources().items():
        if names and not any(name.startswith(n) for n in names):
            continue
        po = load_catalog(name)
        index = _index(po)
        for piece in pieces:
            state, _ = translation(index, piece.context, piece.english)
            if state == "done":
                continue
            entry = index.get((piece.context, piece.english))
            lines = [f"@@ {name} {piece.context} @@ {piece.kind}, {state}"]
            if state == "fuzzy":
                diff = difflib.unified_diff((entry.previous_msgid or "").split("\n"),
                                            piece.english.split("\n"), "English before",
                                            "English now", lineterm="", n=1)
                lines += [f"@| {line}" for line in diff]
                lines.append(entry.msgstr)
            else:
                lines.append(piece.english)
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def fill(text: str) -> list[str]:
    """Write the translations of a :func:`todo`-style text into the catalogs (not fuzzy).

    Returns:
        ``catalog msgctxt`` of each entry written.

    Raises:
        ValueError: an unknown entry, or a string that is not a valid literal.
    """
    blocks: list[tuple[str, str, list[str]]] = []
    for line in text.split("\n"):
        header = _HEADER.match(line)
        if header:
            blocks.append((header.group(1), header.group(2), []))
        elif blocks and not line.startswith("@|"):
            blocks[-1][2].append(line)
        elif not blocks and line.strip():
            raise ValueError(f"text before the first @@ header: {line!r}")
    catalogs: dict[str, polib.POFile] = {}
    current = {(name, p.context): p.english for name, pieces in english_sources().items()
               for p in pieces}
    written = []
    for name, context, body in blocks:
        if name not in catalogs:
            catalogs[name] = load_catalog(name) or polib.POFile()
        entry = next((e for e in catalogs[name] if e.msgctxt == context and not e.obsolete), None)
        if entry is None:
            raise ValueError(f"{name}: no entry {context!r}; run update first")
        if current.get((name, context)) != entry.msgid:
            raise ValueError(f"{name} {context}: the English changed since the last update; "
                             "run update first, then translate the entry again")
        korean = "\n".join(body).strip("\n")
        if kind_of(context) == "string":
            check_literal(entry.msgid, korean)
        entry.msgstr, entry.previous_msgid = korean, None
        entry.flags = [flag for flag in entry.flags if flag != "fuzzy"]
        written.append(f"{name} {context}")
    for name, po in catalogs.items():
        po.save(str(catalog_path(name)))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("update", help="refresh the catalogs from the English")
    commands.add_parser("build", help="regenerate notebooks/ko/ and messages.ko.json")
    commands.add_parser("status", help="translated / fuzzy / new / obsolete per catalog")
    todo_parser = commands.add_parser("todo", help="print the entries still to translate")
    todo_parser.add_argument("names", nargs="*", help="catalogs (prefixes: 01, exercises)")
    fill_parser = commands.add_parser("fill", help="write translations from a todo-style file")
    fill_parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "update":
        update()
        args.command = "status"
    if args.command == "build":
        for path in build():
            print(f"wrote {path.relative_to(ROOT)}")
    elif args.command == "todo":
        sys.stdout.write(todo(args.names))
    elif args.command == "fill":
        written = fill(args.file.read_text(encoding="utf-8"))
        print(f"{len(written)} entries written; now run: python scripts/korean_edition.py build")
    if args.command == "status":
        rows = status()
        print(f"{'catalog':<36} {'entries':>7} {'done':>5} {'fuzzy':>5} {'new':>5} {'obsolete':>8}")
        for row in rows:
            print(f"{row[0]:<36} {row[1]:>7} {row[2]:>5} {row[3]:>5} {row[4]:>5} {row[5]:>8}")
        left = sum(row[3] + row[4] for row in rows)
        print(f"{left} entries to translate" + (": python scripts/korean_edition.py todo"
                                               if left else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
