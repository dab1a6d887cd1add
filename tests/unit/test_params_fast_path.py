"""The form parser's fast path (a field with nothing to unescape) and the query parsed once give exactly what the
full path gives: random bytes, malformed %-escapes, GBK and UTF-8, raw and escaped, ``+`` and CR/LF around names."""

from __future__ import annotations

from urllib.parse import quote_from_bytes

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hongyan.api.params import decode_value, parse_params, parse_urlencoded, unquote


def reference_urlencoded(data: bytes, into: dict[str, str]) -> None:
    """The parser as it was before the fast path: every field unescaped."""
    for pair in data.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        name = name.strip(b"\r\n")
        if not name:
            continue
        key = decode_value(unquote(name.replace(b"+", b" ")))
        into[key] = decode_value(unquote(value.replace(b"+", b" ")))


text = st.text(max_size=12)
encodings = st.sampled_from(["utf-8", "gbk", "gb18030"])
pieces = st.one_of(
    st.binary(max_size=12),
    st.sampled_from([b"%", b"%2", b"%zz", b"%E9%B8", b"%C4%E3", b"+", b"=", b"&", b"\r\n", b"\\", b"\\x41", b"%25"]),
    st.builds(lambda t, e: t.encode(e, "replace"), text, encodings),
    st.builds(lambda t, e: quote_from_bytes(t.encode(e, "replace")).encode(), text, encodings),
)
forms = st.lists(pieces, max_size=16).map(b"".join)


@settings(max_examples=400)
@given(data=forms)
@example(data=b"account=C1&content=%E9%B8%BF%E9%9B%81&mobile=139")
@example(data=b"\xc4\xe3\xba\xc3=\xc4\xe3&a=b%zz&c=%&d=+x+")
def test_fast_path_equals_the_full_path(data: bytes) -> None:
    fast: dict[str, str] = {}
    full: dict[str, str] = {}
    parse_urlencoded(data, fast)
    reference_urlencoded(data, full)
    assert fast == full
    assert list(fast) == list(full)  # the same names in the same order


@settings(max_examples=200)
@given(query=forms, body=forms, ctype=st.sampled_from(["", "application/x-www-form-urlencoded", "text/plain"]))
def test_query_parsed_once_equals_parsing_it_again(query: bytes, body: bytes, ctype: str) -> None:
    parsed = parse_params(query, "", b"")
    snapshot = dict(parsed)
    assert parse_params(b"", ctype, body, parsed) == parse_params(query, ctype, body)
    assert parsed == snapshot  # the caller's query dict is not changed
