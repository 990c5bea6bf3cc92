"""(d) The Korean catalogs follow the glossary and the -ㅂ니다 style, and their markdown renders:
no CommonMark emphasis trap, the English's links, code and numbers kept."""

from __future__ import annotations

from pathlib import Path

import polib
import pytest
from script_loader import load_script

lint = load_script("korean_lint")
ROOT = Path(__file__).resolve().parents[2]
CATALOGS = sorted((ROOT / "translations" / "ko").glob("*.po"))
TERMS = lint.load_glossary()


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.stem)
def test_catalog_passes_the_glossary_and_markdown_lint(path):
    problems = lint.lint_catalog(path.stem, polib.pofile(str(path)), TERMS)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:30])


def test_the_glossary_holds_the_course_terms_and_one_choice_for_fine_tuning():
    by_korean = {term.korean: term for term in TERMS}
    for korean in ("어텐션", "셀프 어텐션", "멀티 헤드 어텐션", "토큰", "패치", "임베딩",
                   "위치 임베딩", "트랜스포머", "인코더", "사전 학습", "미세 조정", "에포크",
                   "레이어 정규화"):
        assert korean in by_korean, korean
    assert "주의" in by_korean["어텐션"].never
    assert "파인튜닝" in by_korean["미세 조정"].never  # one choice: 미세 조정


@pytest.mark.parametrize("text, trapped", [
    ("**어텐션(attention)**은 중요합니다.", True),      # closer after ')' before a letter
    ("이것은**(중요)**합니다.", True),                   # opener after a letter before '('
    ("_강조_는 안 됩니다.", True),                        # '_' closer followed by a letter
    ("**어텐션**(attention)은 중요합니다.", False),
    ("*기울임*은 됩니다.", False),
    ("**셀프 어텐션(self-attention)**: 설명입니다.", False),
    ("`a**b`와 snake_case_name은 코드입니다.", False),
    ("* 목록\n* 항목", False),
    ("(**굵게**)는 됩니다.", False),
])
def test_the_emphasis_lint_follows_commonmark(text, trapped):
    assert bool(lint.emphasis_problems(text)) == trapped
    markdown_it = pytest.importorskip("markdown_it")  # the reference parser, where installed
    html = markdown_it.MarkdownIt("commonmark").render(text).split("<code>")[0]
    assert ("**" in html or "_강조_" in html) == trapped


def test_first_use_needs_the_english_then_hangul_alone():
    ok = ["**셀프 어텐션(self-attention)**은 토큰(token)끼리 어텐션을 계산합니다.",
          "토큰을 셉니다."]
    assert lint.glossary_problems("t", ok, ok, TERMS) == []
    bad = ["어텐션을 계산합니다. 토큰(token)과 token을 봅니다."]
    problems = lint.glossary_problems("t", bad, bad, TERMS)
    assert any("first use of 어텐션" in p for p in problems)
    assert any("'token' in the Korean prose" in p for p in problems)
    assert lint.glossary_problems("t", [], ["주의 가중치"], TERMS)


def test_style_and_consistency_lint():
    assert lint.style_problems("t", "모델이 예측한다. 확률을 봅니다.")
    assert not lint.style_problems("t", "확률을 봅니다. 인용: \"그렇다.\"")
    assert lint.consistency_problems("t", "See [it](a.ipynb) and `x` at 224 px.",
                                     "[그것](b.ipynb)과 `x`를 224 px에서 봅니다.")
    assert not lint.consistency_problems("t", "See [it](a.ipynb), `x`, 1,000 px.",
                                         "[그것](a.ipynb)과 `x`, 1000 px를 봅니다.")
