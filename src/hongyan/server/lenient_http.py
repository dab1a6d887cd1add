"""A lenient front for uvicorn's httptools protocol.

llhttp (httptools) rejects two things old ihuyi clients send: request heads with bare ``\\n`` line ends,
and raw non-ASCII bytes (UTF-8 or GBK) in the request target. Instead of a hand-written HTTP parser we
keep uvicorn's and normalise each request head before llhttp sees it: bare LF → CRLF, and every byte
≥ 0x80 or space inside the target percent-encoded. The body is passed through untouched; its length is
taken from the normalised head (Content-Length), so pipelined requests are normalised one by one.

Limitation: with ``Transfer-Encoding: chunked`` the end of the body is known only to llhttp, so bytes
of a following pipelined request that arrive in the same read are parsed strictly by llhttp.
"""

from __future__ import annotations

import re

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD = 64 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_CHUNKED = re.compile(rb"^transfer-encoding[ \t]*:.*chunked", re.IGNORECASE | re.MULTILINE)
_NEEDS_QUOTING = re.compile(rb"[\x80-\xff ]")


class HeadError(ValueError):
    """The request head cannot be made into valid HTTP/1.x."""


def _quote_target(target: bytes) -> bytes:
    return _NEEDS_QUOTING.sub(lambda m: b"%%%02X" % m.group(0)[0], target)


def normalise_head(head: bytes) -> bytes:
    """Turn one request head (without its final blank line) into strict HTTP/1.x bytes ending in CRLFCRLF."""
    lines = head.split(b"\n")
    lines = [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]
    request_line = lines[0]
    method, sep, rest = request_line.partition(b" ")
    target, sep2, version = rest.rpartition(b" ")
    if not sep or not sep2 or not method or not target or not version.startswith(b"HTTP/"):
        raise HeadError("bad request line")
    if not method.isascii() or not version.isascii():
        raise HeadError("bad request line")
    lines[0] = b" ".join((method, _quote_target(target.strip()), version))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def needs_normalising(head: bytes) -> bool:
    """Fast path: an ASCII head with CRLF line ends and a space-free target goes to llhttp unchanged."""
    return not head.isascii() or head.count(b"\n") != head.count(b"\r\n") or head.split(b"\r\n", 1)[0].count(b" ") != 2


def split_head(buffer: bytes) -> tuple[bytes, bytes, bytes] | None:
    """Find the first complete head: (head as sent, normalised head, the bytes after it); None if incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end != -1:
        raw = buffer[: end + 4]
        # Fast path: a well-formed head (no bare LF before its end) needs no regex and, usually, no changes.
        if raw.count(b"\n") == raw.count(b"\r\n"):
            if end > MAX_HEAD:
                raise HeadError("request head too large")
            fixed = normalise_head(raw[:-4]) if needs_normalising(raw) else raw
            return raw, fixed, buffer[end + 4 :]
    m = _HEAD_END.search(buffer)
    if m is None:
        if len(buffer) > MAX_HEAD:
            raise HeadError("request head too large")
        return None
    if m.start() > MAX_HEAD:
        raise HeadError("request head too large")
    raw = buffer[: m.end()]
    return raw, normalise_head(buffer[: m.start()]), buffer[m.end() :]


class LenientHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol behind a request-head normaliser."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._buf = b""
        self._body_left = 0  # bytes of the current body still to pass through
        self._chunked = False  # passing through until llhttp reports the message complete

    def data_received(self, data: bytes) -> None:
        if self._chunked:
            super().data_received(data)
            return
        self._buf += data
        out: list[bytes] = []
        while self._buf:
            if self._body_left:
                take = self._buf[: self._body_left]
                self._buf = self._buf[len(take) :]
                self._body_left -= len(take)
                out.append(take)
                continue
            stripped = self._buf.lstrip(b"\r\n")
            if not stripped:
                self._buf = b""
                break
            try:
                found = split_head(stripped)
            except HeadError as exc:
                self._buf = b""
                self._feed(out)
                if not self.transport.is_closing():
                    self.send_400_response(f"Invalid HTTP request received: {exc}.")
                return
            if found is None:
                self._buf = stripped
                break
            _, head, rest = found
            out.append(head)
            self._buf = rest
            if _CHUNKED.search(head):
                self._chunked = True
                out.append(self._buf)
                self._buf = b""
                break
            m = _CONTENT_LENGTH.search(head)
            self._body_left = int(m.group(1)) if m else 0
        self._feed(out)

    def _feed(self, out: list[bytes]) -> None:
        if out:
            joined = b"".join(out)
            if joined:
                super().data_received(joined)

    def on_message_complete(self) -> None:
        self._chunked = False
        super().on_message_complete()
