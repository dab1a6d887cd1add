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


def reference_params(query: bytes, content_type: str, body: bytes) -> dict[str, str]:
    """``parse_params`` as it was before the content-type shortcut: the type always parsed as a header."""
    from python_multipart.multipart import parse_options_header

    from hongyan.api.params import parse_multipart

    params: dict[str, str] = {}
    parse_urlencoded(query, params)
    if body:
        ctype, opts = parse_options_header((content_type or "").encode("latin-1", "replace"))
        if ctype == b"multipart/form-data" and opts.get(b"boundary"):
            parse_multipart(body, opts[b"boundary"], params)
        else:
            parse_urlencoded(body.strip(b"\r\n"), params)
    return params


MULTIPART_BODY = (
    b'--XyZ\r\nContent-Disposition: form-data; name="account"\r\n\r\nC1\r\n'
    b'--XyZ\r\nContent-Disposition: form-data; name="content"\r\n\r\n\xe9\xb8\xbf\xe9\x9b\x81\r\n--XyZ--\r\n'
)
content_types = st.one_of(
    st.sampled_from(
        [
            "",
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "multipart/form-data; boundary=XyZ",
            "Multipart/Form-Data; boundary=XyZ",
            'MULTIPART/FORM-DATA;boundary="XyZ"',
            "multipart/form-data",  # no boundary: read as a form
            "multipart/mixed; boundary=XyZ",
            "text/plain",
            "multipart",
        ]
    ),
    st.text(max_size=40),
)


@settings(max_examples=300)
@given(ctype=content_types, body=st.one_of(forms, st.just(MULTIPART_BODY)), query=forms)
@example(ctype="Multipart/Form-Data; boundary=XyZ", body=MULTIPART_BODY, query=b"method=Submit")
def test_the_content_type_shortcut_reads_bodies_as_before(ctype: str, body: bytes, query: bytes) -> None:
    assert parse_params(query, ctype, body) == reference_params(query, ctype, body)


def test_a_multipart_type_in_any_case_is_read_as_multipart() -> None:
    assert parse_params(b"", "Multipart/Form-Data; boundary=XyZ", MULTIPART_BODY) == {
        "account": "C1",
        "content": "鸿雁",
    }
