"""The cached Submit answers are the bytes the uncached writer renders, for every code, format and id key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hongyan.api import wire
from hongyan.domain.codes import SUBMIT_MSG, Rejected

FORMATS = ["", "xml", "json", "JSON", " json ", "Json", "other"]
IDS = ["0", "", "12345678901234567890", "17333333330010001"]


def uncached(code: int, msg: str, smsid: str, fmt: str, id_key: str) -> tuple[bytes, str]:
    return wire.render("SubmitResult", [("code", code), ("msg", msg), (id_key, smsid or "0")], fmt)


@pytest.mark.parametrize("code", sorted(SUBMIT_MSG))
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("id_key", ["smsid", "ismsid"])
def test_every_code_twice_equals_the_uncached_writer(code: int, fmt: str, id_key: str) -> None:
    msg = Rejected.of(code, n=5).msg if "{n}" in SUBMIT_MSG[code] else SUBMIT_MSG[code]
    for smsid in IDS + IDS:  # the second round comes from the cache
        assert wire.submit_answer(code, msg, smsid, fmt, id_key) == uncached(code, msg, smsid, fmt, id_key)


@given(
    code=st.integers(-10, 100_000),
    msg=st.text(max_size=30),
    smsid=st.text(max_size=24) | st.from_regex(r"\A[0-9]{1,20}\Z"),
    fmt=st.sampled_from(FORMATS),
    id_key=st.sampled_from(["smsid", "ismsid"]),
)
def test_any_answer_equals_the_uncached_writer(code: int, msg: str, smsid: str, fmt: str, id_key: str) -> None:
    # texts with markup, quotes, the placeholder character itself, non-digit ids: all as the writer renders them
    assert wire.submit_answer(code, msg, smsid, fmt, id_key) == uncached(code, msg, smsid, fmt, id_key)
    assert wire.submit_answer(code, msg + "\ue000", smsid, fmt, id_key) == uncached(
        code, msg + "\ue000", smsid, fmt, id_key
    )


def test_the_cache_stays_bounded() -> None:
    for i in range(wire._CACHE_MAX + 10):
        wire.submit_answer(4082, f"超过日发送上限[{i}]", "1", "", "smsid")
    assert 0 < len(wire._SUBMIT_PARTS) <= wire._CACHE_MAX
