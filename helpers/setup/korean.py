"""The Korean edition (한국어판) at run time: which edition runs, its font, its check messages.

The Korean notebooks (``notebooks/ko/NN_*.ipynb``) are generated from the English ones by
``scripts/korean_edition.py`` and open with the same setup cell, so the edition is detected
here, not passed in: ``VIT_NOTEBOOKS_LANGUAGE`` (``ko`` or ``en``) when set, else a kernel
whose working folder is ``notebooks/ko`` (JupyterLab, VS Code, nbval and ``make run`` start the
kernel in the notebook's folder), else in Colab the open notebook itself (its metadata, or a
Colab badge pointing into ``notebooks/ko/``).

In the Korean edition :func:`use_korean_edition` (called by ``setup_notebook``) does two things:

- registers NanumGothic (SIL Open Font License 1.1), shipped as TTF files inside the PyPI package
  ``koreanize-matplotlib``, with ``matplotlib.font_manager.fontManager.addfont`` and appends it to
  ``font.family`` as a fallback: English text keeps DejaVu Sans, Hangul is drawn with
  NanumGothic. No apt package, no kernel restart, no network once the package is installed (in
  Colab the setup installs it, about 8 MB). The package is only located, never imported (its
  import would change matplotlib's settings by itself).
- sets ``VIT_NOTEBOOKS_LANGUAGE=ko``, so that :class:`helpers.exercises.CheckResult` prints its
  PASS/FAIL line through :func:`check_line`: every fragment of the message (case, expected, got,
  hint, the passing text) is looked up in ``helpers/exercises/messages.ko.json``, compiled by the
  generator from ``translations/ko/exercises.po``. A fragment made by an f-string matches its
  template (``"all {len(cases)} sizes right"``), and the values filled in are looked up in turn.
  A fragment with no translation is printed in English.

Nothing happens at import; the catalog is read once, on first use.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["LANGUAGE_ENV", "FONT_PACKAGE", "detect_edition", "korean_font_files",
           "register_korean_font", "use_korean_edition", "korean_messages", "translate_message",
           "check_line"]

#: ``ko`` or ``en``: overrides the detected edition (also for exercise messages).
LANGUAGE_ENV = "VIT_NOTEBOOKS_LANGUAGE"
#: The PyPI package whose ``fonts/`` folder holds the NanumGothic TTF files.
FONT_PACKAGE = "koreanize-matplotlib"
_FONT_MODULE = "koreanize_matplotlib"
_KOREAN_FOLDER = "ko"
_CATALOG = Path(__file__).resolve().parent.parent / "exercises" / "messages.ko.json"
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def _colab_notebook() -> dict | None:
    """The notebook open in Colab (its JSON), or None outside Colab or if Colab does not say."""
    if "google.colab" not in sys.modules:
        return None
    try:
        from google.colab import _message  # type: ignore[import-not-found]

        reply = _message.blocking_request("get_ipynb", timeout_sec=5)
        return reply.get("ipynb") if isinstance(reply, dict) else None
    except Exception:  # noqa: BLE001 - any failure means: cannot tell, keep English
        return None


def _is_korean_notebook(notebook: dict) -> bool:
    """Whether a notebook's JSON is a generated Korean notebook (metadata or Colab badge)."""
    if notebook.get("metadata", {}).get("vit_notebooks", {}).get("edition") == _KOREAN_FOLDER:
        return True
    cells = notebook.get("cells") or [{}]
    source = cells[0].get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    return "/notebooks/ko/" in source


def detect_edition(cwd: Path | None = None, notebook: dict | None = None) -> str:
    """``"ko"`` for the Korean edition, else ``"en"``.

    Args:
        cwd: The kernel's working folder (default: the current one).
        notebook: The open notebook's JSON, if known (default: asked from Colab, in Colab).
    """
    chosen = os.environ.get(LANGUAGE_ENV, "").strip().lower()
    if chosen in ("ko", "en"):
        return chosen
    folder = Path.cwd() if cwd is None else cwd
    if folder.name == _KOREAN_FOLDER and folder.parent.name == "notebooks":
        return "ko"
    notebook = _colab_notebook() if notebook is None else notebook
    return "ko" if notebook is not None and _is_korean_notebook(notebook) else "en"


def korean_font_files() -> list[Path]:
    """The NanumGothic TTF files of the installed ``koreanize-matplotlib`` (regular first)."""
    spec = importlib.util.find_spec(_FONT_MODULE)  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    return sorted(folder.glob("NanumGothic*.ttf"), key=lambda p: (len(p.name), p.name))


def register_korean_font(*, install: bool = False) -> str:
    """Make matplotlib draw Hangul: register NanumGothic and add it to ``font.family``.

    Args:
        install: pip-install ``koreanize-matplotlib`` first if it is missing (Colab).

    Returns:
        One line for the setup report: the font's name and file, or what to install.
    """
    files = korean_font_files()
    if not files and install:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        FONT_PACKAGE], check=True)
        importlib.invalidate_caches()
        files = korean_font_files()
    if not files:
        return (f"Korean font: {FONT_PACKAGE} is not installed, so Hangul in figures shows as "
                f"boxes; run: pip install {FONT_PACKAGE}")
    import matplotlib
    from matplotlib import font_manager

    for path in files:
        font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(files[0])).get_name()  # "NanumGothic"
    family = matplotlib.rcParams["font.family"]
    family = [family] if isinstance(family, str) else list(family)
    if name not in family:  # a fallback: Latin letters keep the default font
        matplotlib.rcParams["font.family"] = [*family, name]
    return f"Korean font: {name} ({files[0].name} from {FONT_PACKAGE}, SIL Open Font License)"


def use_korean_edition(*, install: bool = False) -> str:
    """Switch this kernel to the Korean edition: font and exercise messages.

    Returns:
        One line for the setup report.
    """
    os.environ[LANGUAGE_ENV] = "ko"
    font = register_korean_font(install=install)
    return f"edition: 한국어판 (exercise messages in Korean) · {font}"


def _field_options(expression: str) -> list[tuple[str, str | None]]:
    """What an f-string field can hold, as (regex, fixed value): the constants of
    ``'a' if x else 'b'`` (longest first, each tried as literal text), else any text."""
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return [("(.+?)", None)]
    if isinstance(node, ast.IfExp) and all(isinstance(n, ast.Constant) and isinstance(n.value, str)
                                           for n in (node.body, node.orelse)):
        values = sorted({node.body.value, node.orelse.value}, key=len, reverse=True)
        return [(re.escape(value), value) for value in values]
    return [("(.+?)", None)]


@functools.cache
def korean_messages() -> tuple[dict[str, str], tuple[tuple[re.Pattern, str, tuple, dict], ...]]:
    """The compiled check-message catalog: exact messages, and templates as regexes.

    Returns:
        ``(exact, templates)``: English -> Korean, and ``(regex, korean, captured fields, fixed
        fields)`` for each template variant, the ones with the most literal text first.
    """
    data = json.loads(_CATALOG.read_text(encoding="utf-8")) if _CATALOG.is_file() else {}
    exact: dict[str, str] = {}
    templates = []
    for english, korean in data.items():
        parts = _PLACEHOLDER.split(english)  # literal, field, literal, ...
        if len(parts) == 1:
            exact[english] = korean
            continue
        fields = parts[1::2]
        for choice in itertools.product(*(_field_options(name) for name in fields)):
            regex = "".join(re.escape(part) if i % 2 == 0 else choice[i // 2][0]
                            for i, part in enumerate(parts))
            fixed = {name: value for name, (_, value) in zip(fields, choice, strict=True)
                     if value is not None}
            captured = tuple(name for name in fields if name not in fixed)
            literal = sum(len(part) for part in parts[::2]) + sum(map(len, fixed.values()))
            templates.append((literal, re.compile(regex, re.S), korean, captured, fixed))
    templates.sort(key=lambda item: -item[0])
    return exact, tuple(template[1:] for template in templates)


def translate_message(text: str, depth: int = 0) -> str:
    """The Korean for one message fragment, or ``text`` itself when the catalog has none."""
    exact, templates = korean_messages()
    if text in exact:
        return exact[text]
    if depth > 2:
        return text
    for regex, korean, captured, fixed in templates:
        match = regex.fullmatch(text)
        if match is None:
            continue
        values = dict(fixed)
        values.update(zip(captured, (translate_message(v, depth + 1) for v in match.groups()),
                          strict=True))
        return _PLACEHOLDER.sub(lambda m, values=values: values.get(m.group(1), m.group(0)),
                                korean)
    return text


def check_line(result: Any) -> str:
    """A :class:`~helpers.exercises.CheckResult` as one Korean line (``[통과]`` / ``[실패]``)."""
    if result.passed or not result.parts:
        message = translate_message(result.message)
    else:
        case, expected, got, hint = result.parts
        message = (f"{translate_message(case)}: " if case else "") + \
            f"기댓값 {translate_message(expected)}, 실제 {translate_message(got)}" + \
            (f". 힌트: {translate_message(hint)}" if hint else "")
    error = f" (최대 오차 {result.max_error:.2e})" if math.isfinite(result.max_error) else ""
    return f"[{'통과' if result.passed else '실패'}] {result.name}: {message}{error}"
