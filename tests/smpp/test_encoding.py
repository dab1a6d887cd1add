"""GSM 03.38 / UCS2 encoding, splitting with UDH, reassembly; part counts agree with billing (SPEC §7)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hongyan.domain.segments import count_segments
from hongyan.smpp.constants import DATA_CODING_DEFAULT, DATA_CODING_UCS2, ESM_CLASS_UDHI
from hongyan.smpp.encoding import (
    GSM_BASIC,
    GSM_CHARS,
    GSM_EXTENSION,
    Concat,
    MessageTooLong,
    Reassembler,
    UdhError,
    choose_coding,
    count_parts,
    decode_text,
    gsm_decode,
    gsm_encode,
    make_udh,
    parse_udh,
    split_text,
)


def test_gsm_tables() -> None:
    assert len(GSM_BASIC) == 128
    assert gsm_encode("@£$¥") == bytes((0x00, 0x01, 0x02, 0x03))
    assert gsm_encode("Hi!") == b"Hi!"
    assert gsm_encode("€[]{}") == bytes((0x1B, 0x65, 0x1B, 0x3C, 0x1B, 0x3E, 0x1B, 0x28, 0x1B, 0x29))
    assert gsm_decode(bytes((0x1B, 0x14, 0x11, 0x5F, 0x24))) == "^_§¤"
    assert gsm_decode(bytes((0x1B, 0x41))) == "A"  # unknown extension → the basic character
    with pytest.raises(ValueError):
        gsm_encode("中")


def test_coding_choice() -> None:
    assert choose_coding("Your code is 1234") == DATA_CODING_DEFAULT
    assert choose_coding("€5 {ok}") == DATA_CODING_DEFAULT
    assert choose_coding("【鸿雁】验证码1234") == DATA_CODING_UCS2
    assert choose_coding("emoji 😀") == DATA_CODING_UCS2
    assert choose_coding("ç") == DATA_CODING_UCS2  # GSM has only capital Ç


@pytest.mark.parametrize(
    ("text", "parts", "coding"),
    [
        ("a" * 160, 1, DATA_CODING_DEFAULT),
        ("a" * 161, 2, DATA_CODING_DEFAULT),
        ("a" * 306, 2, DATA_CODING_DEFAULT),
        ("a" * 307, 3, DATA_CODING_DEFAULT),
        ("€" * 80, 1, DATA_CODING_DEFAULT),  # 160 septets
        ("€" * 81, 2, DATA_CODING_DEFAULT),
        ("中" * 70, 1, DATA_CODING_UCS2),
        ("中" * 71, 2, DATA_CODING_UCS2),
        ("中" * 134, 2, DATA_CODING_UCS2),
        ("中" * 135, 3, DATA_CODING_UCS2),
        ("中" * 300, 5, DATA_CODING_UCS2),
    ],
)
def test_part_counts(text: str, parts: int, coding: int) -> None:
    split = split_text(text)
    assert (split.total, split.data_coding) == (parts, coding)


def test_300_chinese_characters_are_five_ucs2_parts_with_udh() -> None:
    text = "中" * 300
    split = split_text(text)
    shorts = split.with_udh(0xAB)
    assert split.esm_class == ESM_CLASS_UDHI
    assert [len(s) for s in shorts] == [6 + 134] * 4 + [6 + 64]
    for seq, short in enumerate(shorts, 1):
        assert short[:6] == bytes((0x05, 0x00, 0x03, 0xAB, 5, seq))
    assert "".join(s[6:].decode("utf-16-be") for s in shorts) == text


def test_split_never_breaks_an_escape_or_a_surrogate_pair() -> None:
    gsm = "a" * 152 + "€" + "b" * 10  # the escape would sit at septet 153
    chunks = split_text(gsm).chunks
    assert chunks[0][-1] != 0x1B and len(chunks[0]) == 152
    assert gsm_decode(b"".join(chunks)) == gsm
    ucs2 = "中" * 66 + "😀" + "中" * 10  # the surrogate pair would straddle units 67/68
    chunks = split_text(ucs2).chunks
    assert len(chunks[0]) == 132
    assert [c.decode("utf-16-be") for c in chunks] == ["中" * 66, "😀" + "中" * 10]


def test_too_long_is_refused_not_truncated() -> None:
    with pytest.raises(MessageTooLong):
        split_text("中" * (67 * 255 + 1))
    assert count_parts("中" * 67 * 255) == 255


def test_udh_parsing() -> None:
    assert parse_udh(make_udh(7, 3, 2) + b"xy") == (Concat(7, 3, 2), b"xy")
    sixteen = bytes((0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x01)) + b"z"
    assert parse_udh(sixteen) == (Concat(0x1234, 2, 1), b"z")
    other_ie = bytes((0x03, 0x24, 0x01, 0x00)) + b"q"  # a national language IE, no concatenation
    assert parse_udh(other_ie) == (None, b"q")
    for bad in (b"", b"\x09\x00\x03", b"\x03\x00\x05\x01"):
        with pytest.raises(UdhError):
            parse_udh(bad)


def test_decode_text_by_data_coding() -> None:
    assert decode_text("退订".encode("utf-16-be"), 0x08) == "退订"
    assert decode_text("退订".encode("gb18030"), 0x0F) == "退订"
    assert decode_text(b"caf\xe9", 0x03) == "café"
    assert decode_text(b"abc", 0x01) == "abc"
    assert decode_text(b"\xd8\x00", 0x08) == "\ufffd"  # lenient: a lone surrogate does not raise
    assert decode_text(b"Hi", 0xF0) == "Hi"  # GSM 03.38 message-class group, default alphabet
    assert decode_text("好".encode("utf-16-be"), 0x18) == "好"  # general group, UCS2


def test_reassembler_orders_and_expires() -> None:
    r = Reassembler(ttl_s=10)
    assert r.add("k", Concat(1, 3, 3), b"c") is None
    assert r.add("k", Concat(1, 3, 1), b"a") is None
    assert r.add("other", Concat(1, 3, 1), b"x") is None
    assert r.add("k", Concat(1, 3, 2), b"b") == [b"a", b"b", b"c"]
    assert len(r) == 1
    assert r.expire(now=1e12) == 1 and len(r) == 0
    with pytest.raises(UdhError):
        r.add("k", Concat(1, 3, 4), b"?")


# ----------------------------------------------------------------------------------------------- properties

_gsm_text = st.text(st.sampled_from(sorted(GSM_CHARS)), max_size=500)
_any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=700)


@settings(max_examples=300, deadline=None)
@given(_gsm_text)
def test_gsm_round_trip(text: str) -> None:
    assert gsm_decode(gsm_encode(text)) == text


@settings(max_examples=300, deadline=None)
@given(_any_text)
def test_encode_decode_round_trip(text: str) -> None:
    split = split_text(text)
    assert decode_text(b"".join(split.chunks), split.data_coding) == text


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(_gsm_text, _any_text, st.text(st.sampled_from("中文短信验证码，。😀"), max_size=400)), st.integers(0, 255)
)
def test_split_reassemble_round_trip_and_part_sizes(text: str, reference: int) -> None:
    split = split_text(text)
    shorts = split.with_udh(reference)
    reassembler = Reassembler()
    result = None
    for short in reversed(shorts):  # arrival order must not matter
        if split.concatenated:
            concat, payload = parse_udh(short)
            assert concat is not None and concat.reference == reference and concat.total == len(shorts)
            result = reassembler.add("peer", concat, payload)
        else:
            result = [short]
    assert result is not None
    assert decode_text(b"".join(result), split.data_coding) == text
    limit = {DATA_CODING_DEFAULT: (160, 153), DATA_CODING_UCS2: (140, 134)}[split.data_coding]
    if split.concatenated:
        assert all(len(c) <= limit[1] for c in split.chunks)
        assert all(len(s) <= 140 + 19 for s in shorts)  # fits short_message (254) comfortably
    else:
        assert len(split.chunks[0]) <= limit[0]


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), max_size=2000))
def test_ucs2_part_count_equals_billed_segments(text: str) -> None:
    """SPEC §7 bills ≤70 chars as one segment and ceil(n/67) above: the wire parts must agree."""
    assert count_parts(text) == count_segments(text) if text else count_parts(text) == 1


def test_gsm_extension_table_is_complete() -> None:
    assert set(GSM_EXTENSION.values()) == set("\f^{}\\[~]|€")
