"""The sensitive-word filter: normalisation, byte-level matching on whole characters, properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hongyan.domain.words import WordFilter, normalise

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


def test_normalise() -> None:
    assert normalise("ＦＡＬＵＮ 法*轮\u200b功！") == "falun法轮功"


def test_variants_hit() -> None:
    wf = WordFilter(["法轮", "Falun", "代开发票"])
    for text in ("法 轮", "法*轮", "ＦＡＬＵＮ", "fa.lun", "代\u200b开 发-票"):
        assert wf.find(f"前文{text}后文") is not None, text
    assert wf.find("法治轮回") is None
    assert WordFilter().find("anything") is None


@settings(max_examples=200)
@given(st.text(CJK, min_size=2, max_size=5), st.text(max_size=60), st.text(max_size=60))
def test_embedded_word_is_found(word: str, before: str, after: str) -> None:
    assert WordFilter([word]).find(before + word + after) == word


@settings(max_examples=200)
@given(st.lists(st.text(CJK, min_size=2, max_size=4), min_size=1, max_size=20), st.text(CJK, max_size=80))
def test_no_false_hits(word_list: list[str], text: str) -> None:
    found = WordFilter(word_list).find(text)
    assert found is None or normalise(found) in normalise(text)
