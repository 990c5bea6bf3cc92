"""Lint the Korean edition's catalogs: the glossary, the -ㅂ니다 style, CommonMark's emphasis
trap, and that a translation keeps the English's links, code and numbers.

CommonMark's trap: ``**어텐션(attention)**은`` shows literal asterisks. A delimiter run can close
emphasis only if it is *right-flanking*: not preceded by whitespace, and either not preceded by a
punctuation character or followed by whitespace or punctuation. ``)**은`` is preceded by ``)``
(punctuation) and followed by a letter, so it cannot close; ``은**(`` cannot open for the mirror
reason (left-flanking). For ``_`` an opener must also not be right-flanking (unless preceded by
punctuation), a closer not left-flanking (unless followed by punctuation), so ``_강조_는`` fails
too. Punctuation means Unicode categories P and S (CommonMark 0.31). This lint classifies every
``*`` / ``_`` run as the spec does, pairs openers with closers (rule of three included) and reports
each run that looks like emphasis but stays literal. The fix keeps the particle attached:
``**어텐션**(attention)은``.

Usage: python scripts/korean_lint.py    (prints every problem; exit status 1 if any)
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ROOT / "translations" / "ko"
GLOSSARY = CATALOGS / "glossary.md"

_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,}).*?^\s{0,3}\1\s*$", re.S | re.M)
_URL = re.compile(r"\]\([^)]*\)|https?://\S+|<[^>\n]+>")
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|'[A-Za-z][^'\n]*'")
_HANGUL = re.compile(r"[가-힣]")
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
_LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Term:
    """One glossary row."""

    korean: str
    english: tuple[str, ...]
    not_in_english: tuple[str, ...]
    never: tuple[str, ...]


def load_glossary(path: Path = GLOSSARY) -> list[Term]:
    """The glossary table's rows."""
    terms = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not _HANGUL.search(cells[0]) or cells[0] == "한국어":
            continue
        split = [tuple(w.strip() for w in c.split(",") if w.strip()) for c in cells[1:]]
        terms.append(Term(cells[0], *split))
    return terms


def _blank(match: re.Match) -> str:
    return re.sub(r"\S", " ", match.group(0))


def prose(markdown: str, headings: bool = True) -> str:
    """The markdown with code, URLs, HTML, quotes and blockquote lines (and, unless
    ``headings``, heading lines) blanked, offsets kept."""
    text = _FENCE.sub(_blank, markdown)
    text = _CODE_SPAN.sub(_blank, text)
    text = _URL.sub(_blank, text)
    text = _QUOTED.sub(_blank, text)
    skip = (">",) if headings else (">", "#")
    return "\n".join(" " * len(line) if line.lstrip().startswith(skip) else line
                     for line in text.split("\n"))


def glossary_problems(notebook: str, markdown: list[str], everything: list[str],
                      terms: list[Term]) -> list[str]:
    """Problems with the glossary in one catalog.

    Args:
        notebook: The catalog's name, for messages.
        markdown: The Korean markdown cells, in order.
        everything: Every Korean translation of the catalog (comments, strings too).
        terms: The glossary.
    """
    problems = []
    for text in everything:
        for term in terms:
            for word in term.never:
                if word in text:
                    problems.append(f"{notebook}: '{word}' (write {term.korean}): "
                                    f"{_around(text, text.index(word))}")
    text = prose("\n\n".join(markdown), headings=False)  # glossed in the text, not in titles
    first_uses: list[tuple[int, int]] = []  # spans of terms introduced with their English
    for term in sorted(terms, key=lambda t: -len(t.korean)):
        found = [m.start() for m in re.finditer(re.escape(term.korean), text)]
        if not found:
            continue
        start = found[0]
        end = start + len(term.korean)
        paren = re.match(r"\**된?\(([^()\n]*)\)", text[end:])  # **어텐션**(attention), 학습된(...)
        if paren and any(paren.group(1).lower().endswith(form.lower()) for form in term.english):
            first_uses.append((start, end + paren.end()))  # "(class token)" introduces 토큰
        elif not any(s <= start < e for s, e in first_uses):
            problems.append(f"{notebook}: first use of {term.korean} must read "
                            f"{term.korean}({term.english[0]}): {_around(text, start)}")
    glossed = re.sub(r"(?<=[가-힣])\([A-Za-z][^()\n]*\)", _blank, text)  # 클래스 토큰(class token)
    for term in terms:
        for form in term.not_in_english:
            for m in re.finditer(rf"(?<![A-Za-z_-]){re.escape(form)}(?![A-Za-z_-])", glossed):
                if not any(s <= m.start() < e for s, e in first_uses):
                    problems.append(f"{notebook}: '{form}' in the Korean prose (write "
                                    f"{term.korean}): {_around(text, m.start())}")
    return problems


def _around(text: str, at: int) -> str:
    return " ".join(text[max(0, at - 25):at + 35].split())


def style_problems(notebook: str, markdown: str) -> list[str]:
    """Sentences of the Korean prose that end outside the -ㅂ니다 style (한다. 있다. 해요.).

    Requests in -세요 and questions in -ㄹ까요? are the same polite register and pass.
    """
    text = prose(markdown)
    pattern = r"(?:[가-힣](?<!니)다|[가-힣](?<![세까])요)[.!?](?=\s|$)"
    return [f"{notebook}: not the -ㅂ니다 style: {_around(text, m.start())}"
            for m in re.finditer(pattern, text)]


def _punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def _space(ch: str) -> bool:
    return ch == "" or ch.isspace()


def emphasis_problems(markdown: str) -> list[str]:
    """Emphasis delimiters (``*``, ``_``) that CommonMark leaves literal, with their context."""
    text = _FENCE.sub(_blank, markdown)
    text = _CODE_SPAN.sub(lambda m: m.group(1) + "x" * len(m.group(2)) + m.group(1), text)
    text = _URL.sub(lambda m: "x" * len(m.group(0)), text)
    problems = []
    for block in re.split(r"\n\s*\n", text):
        runs = []
        for m in re.finditer(r"(?<!\\)(\*+|_+)", block):
            before = block[m.start() - 1] if m.start() else ""
            after = block[m.end()] if m.end() < len(block) else ""
            left = not _space(after) and (not _punct(after) or _space(before) or _punct(before))
            right = not _space(before) and (not _punct(before) or _space(after) or _punct(after))
            char = m.group(0)[0]
            if char == "*":
                opens, closes = left, right
            else:
                opens = left and (not right or _punct(before))
                closes = right and (not left or _punct(after))
            if opens or closes:
                runs.append({"char": char, "n": len(m.group(0)), "orig": len(m.group(0)),
                             "open": opens, "close": closes, "at": m.start()})
        for i, closer in enumerate(runs):
            if not closer["close"]:
                continue
            for opener in reversed(runs[:i]):
                if closer["n"] == 0:
                    break
                if opener["char"] != closer["char"] or not opener["open"] or opener["n"] == 0:
                    continue
                if ((opener["close"] or closer["open"]) and (opener["orig"] + closer["orig"]) % 3
                        == 0 and not (opener["orig"] % 3 == 0 and closer["orig"] % 3 == 0)):
                    continue
                used = 2 if opener["n"] >= 2 and closer["n"] >= 2 else 1
                opener["n"] -= used
                closer["n"] -= used
                for between in runs[runs.index(opener) + 1:i]:  # openers skipped: literal
                    between["open"] = False
        problems += [f"literal {r['char'] * r['orig']!r} (CommonMark emphasis trap): "
                     f"{_around(block, r['at'])}" for r in runs if r["n"] > 0]
    return problems


def consistency_problems(notebook: str, english: str, korean: str) -> list[str]:
    """A markdown translation keeps the English's link targets, code spans and numbers."""
    problems = []
    if sorted(_LINK_TARGET.findall(english)) != sorted(_LINK_TARGET.findall(korean)):
        problems.append(f"{notebook}: links differ from the English: {english[:60]!r}")
    spans = {" ".join(m.group(0).split()) for m in _CODE_SPAN.finditer(english)} - \
        {" ".join(m.group(0).split()) for m in _CODE_SPAN.finditer(korean)}
    if spans:
        problems.append(f"{notebook}: code {sorted(spans)} of the English is missing: "
                        f"{english[:60]!r}")
    numbers = {n.replace(",", "") for n in _NUMBER.findall(prose(english))} - \
        {n.replace(",", "") for n in _NUMBER.findall(korean)}
    if numbers:
        problems.append(f"{notebook}: numbers {sorted(numbers)} of the English are missing: "
                        f"{english[:60]!r}")
    return problems


def lint_catalog(name: str, po: polib.POFile, terms: list[Term]) -> list[str]:
    """Every problem of one catalog's translated entries."""
    done = [e for e in po if e.msgstr and not e.obsolete and not e.fuzzy]
    markdown = [e for e in done if " " not in e.msgctxt]  # a markdown cell's msgctxt: its id
    problems = glossary_problems(name, [e.msgstr for e in markdown], [e.msgstr for e in done],
                                 terms)
    for entry in markdown:
        problems += style_problems(name, entry.msgstr)
        trapped = emphasis_problems(entry.msgstr)
        if len(trapped) > len(emphasis_problems(entry.msgid)):  # literal in the English too: meant
            problems += [f"{name} {entry.msgctxt}: {p}" for p in trapped]
        problems += consistency_problems(f"{name} {entry.msgctxt}", entry.msgid, entry.msgstr)
    return problems


def lint_all() -> list[str]:
    terms = load_glossary()
    problems = []
    for path in sorted(CATALOGS.glob("*.po")):
        problems += lint_catalog(path.stem, polib.pofile(str(path)), terms)
    return problems


if __name__ == "__main__":
    found = lint_all()
    print("\n".join(found) or "no problems")
    sys.exit(1 if found else 0)
