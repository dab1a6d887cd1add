"""Lenient parameter parsing for the ihuyi endpoints (SPEC.md §1).

Real clients send form-urlencoded bodies with or without a charset, multipart forms, raw unencoded UTF-8,
GBK percent-escapes and raw GBK bytes. Every value is decoded as UTF-8 when its bytes are valid UTF-8,
else as GB18030 (a superset of GBK). Query and body are merged; the body wins on conflict; the last of a
repeated name wins (as PHP does). Nothing here raises on any input: bad bytes become replacement
characters or are dropped.
"""

from __future__ import annotations

import codecs
from urllib.parse import unquote_to_bytes

from python_multipart.multipart import MultipartParser, parse_options_header

MAX_BODY = 64 * 1024


def decode_value(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


_escape_decode = codecs.escape_decode


def unquote(raw: bytes) -> bytes:
    """``urllib.parse.unquote_to_bytes``, about 6x faster on the %-escaped Chinese of a typical Submit.

    ``%XX`` becomes ``\\xXX`` (after doubling existing backslashes) and the C ``escape_decode`` does the rest;
    a malformed escape (``%zz``, a trailing ``%``) makes it raise, and the stdlib handles that input instead.
    """
    if b"%" not in raw:
        return raw
    try:
        return _escape_decode(raw.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]
    except ValueError:
        return unquote_to_bytes(raw)


def parse_urlencoded(data: bytes, into: dict[str, str]) -> None:
    """``a=b&c=d`` with ``+`` as space and %-escapes; raw non-ASCII bytes are taken as they are."""
    for pair in data.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        name = name.strip(b"\r\n")
        if not name:
            continue
        if b"%" not in pair and b"+" not in pair:  # most fields (account, mobile, …): nothing to unescape
            into[decode_value(name)] = decode_value(value)
            continue
        key = decode_value(unquote(name.replace(b"+", b" ")))
        into[key] = decode_value(unquote(value.replace(b"+", b" ")))


class _Part:
    """The multipart part being read: its name, value chunks, and headers."""

    __slots__ = ("header", "headers", "name", "value")

    def __init__(self) -> None:
        self.name: str | None = None
        self.value: list[bytes] = []
        self.header = b""
        self.headers: dict[bytes, bytes] = {}


def parse_multipart(data: bytes, boundary: bytes, into: dict[str, str]) -> None:
    """multipart/form-data fields (file parts are read as text too; nobody uploads files to sms.php)."""
    part = _Part()

    def on_part_begin() -> None:
        part.name, part.value, part.headers = None, [], {}

    def on_header_field(d: bytes, s: int, e: int) -> None:
        part.header += d[s:e]

    def on_header_value(d: bytes, s: int, e: int) -> None:
        key = part.header.lower()
        part.headers[key] = part.headers.get(key, b"") + d[s:e]

    def on_header_end() -> None:
        part.header = b""

    def on_headers_finished() -> None:
        _, opts = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = opts.get(b"name")
        part.name = decode_value(name) if name is not None else None

    def on_part_data(d: bytes, s: int, e: int) -> None:
        part.value.append(d[s:e])

    def on_part_end() -> None:
        if part.name:
            into[part.name] = decode_value(b"".join(part.value))

    parser = MultipartParser(
        boundary,
        callbacks={  # type: ignore[arg-type]
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(data)
        parser.finalize()
    except Exception:
        return


def parse_params(
    query: bytes, content_type: str, body: bytes, parsed_query: dict[str, str] | None = None
) -> dict[str, str]:
    """All parameters of a request: query first, then the body over it. ``parsed_query``: the query's own
    ``parse_params`` result, when the caller has it already (it is copied, not changed)."""
    params: dict[str, str] = dict(parsed_query) if parsed_query else {}
    if query:
        parse_urlencoded(query, params)
    if body:
        if content_type and "multipart" in content_type.lower():
            # Headers arrive latin-1 decoded; anything else (a caller's own string) must not break parsing.
            ctype, opts = parse_options_header(content_type.encode("latin-1", "replace"))
            if ctype == b"multipart/form-data" and opts.get(b"boundary"):
                parse_multipart(body, opts[b"boundary"], params)
                return params
        # x-www-form-urlencoded, no type, text/plain, a misspelt header: all read as a form.
        parse_urlencoded(body.strip(b"\r\n"), params)
    return params
