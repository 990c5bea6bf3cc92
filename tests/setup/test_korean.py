"""The Korean edition at run time: (e) figures draw Hangul, the edition is detected, the setup
cell works from notebooks/ko/, and the exercise checks print in Korean."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from helpers.exercises import CheckResult, classification, fail
from helpers.setup import korean
from helpers.setup.config import flag
from helpers.setup.notebook import SETUP_CELL

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def font_files() -> list[Path]:
    files = korean.korean_font_files()
    if not files:
        reason = f"{korean.FONT_PACKAGE} is not installed (requirements-test.txt)"
        if flag("CI"):
            pytest.fail(f"{reason}, but CI is set: the font test must run", pytrace=False)
        pytest.skip(reason)
    return files


def _glyph_warnings(title: str) -> list[str]:
    fig = Figure(figsize=(3, 2))
    FigureCanvasAgg(fig)
    fig.subplots().set_title(title, fontweight="bold")
    fig.suptitle(title)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")  # as the inline backend shows it
    return [str(w.message) for w in caught if "Glyph" in str(w.message)]


def test_e_a_korean_title_renders_with_no_missing_glyph(font_files):
    title = "어텐션 롤아웃: 클래스 토큰 (CLS) · 패치 196개 √d"
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        assert any("missing" in w for w in _glyph_warnings(title))  # the test can fail
        line = korean.register_korean_font()
        assert "NanumGothic" in line and font_files[0].name == "NanumGothic.ttf"
        assert _glyph_warnings(title) == []
        assert matplotlib.rcParams["font.family"][0] == "DejaVu Sans"  # Latin text unchanged


def test_the_edition_is_detected(monkeypatch, tmp_path):
    monkeypatch.delenv(korean.LANGUAGE_ENV, raising=False)
    (tmp_path / "notebooks" / "ko").mkdir(parents=True)
    assert korean.detect_edition(tmp_path / "notebooks" / "ko", {}) == "ko"
    assert korean.detect_edition(tmp_path / "notebooks", {}) == "en"
    colab = {"metadata": {"vit_notebooks": {"edition": "ko"}}, "cells": []}
    assert korean.detect_edition(tmp_path, colab) == "ko"
    badge = {"cells": [{"source": ["[![Open In Colab](x)](https://colab.research.google.com/"
                                   "github/o/r/blob/main/notebooks/ko/01_x.ipynb)"]}]}
    assert korean.detect_edition(tmp_path, badge) == "ko"
    monkeypatch.setenv(korean.LANGUAGE_ENV, "en")
    assert korean.detect_edition(tmp_path / "notebooks" / "ko", colab) == "en"


def test_check_messages_print_in_korean(monkeypatch):
    monkeypatch.setenv(korean.LANGUAGE_ENV, "ko")
    passed = str(classification.check_token_count(classification.reference_token_count))
    assert passed.startswith("[통과] token_count: ") and "크기" in passed, passed
    failed = str(classification.check_token_count(lambda size, patch: (size // patch) ** 2))
    assert failed.startswith("[실패] token_count: ") and "힌트: " in failed, failed
    assert "one token per patch" not in failed  # the hint is translated
    assert "expected" not in failed and "기댓값 197" in failed, failed
    raised = str(classification.check_top_k(lambda *args: 1 / 0))
    assert "ZeroDivisionError" in raised and "줄" in raised, raised
    monkeypatch.setenv(korean.LANGUAGE_ENV, "en")
    assert str(fail("x", "", "1", "2", "h")) == "[FAIL] x: expected 1, got 2. Hint: h"


def test_an_untranslated_fragment_prints_in_english(monkeypatch):
    monkeypatch.setenv(korean.LANGUAGE_ENV, "ko")
    result = CheckResult("x", False, float("inf"), "m", ("", "something new", "zz", ""))
    assert str(result) == "[실패] x: 기댓값 something new, 실제 zz"


def test_the_setup_cell_runs_from_notebooks_ko(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", korean.LANGUAGE_ENV)}
    env.update(VIT_NOTEBOOKS_OFFLINE="1", MPLBACKEND="Agg")
    extra = [str(p.parents[1]) for p in korean.korean_font_files()[:1]]  # where the font is
    code = f"import sys; sys.path[:0] = {extra!r}\n" + SETUP_CELL + \
        "\nimport helpers; print('helpers from', helpers.__file__); print('edition', ENV.edition)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "notebooks" / "ko", env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"helpers from {ROOT / 'helpers' / '__init__.py'}" in out.stdout
    assert "edition ko" in out.stdout and "edition: 한국어판" in out.stdout
