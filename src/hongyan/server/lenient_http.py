"""A lenient front for uvicorn's httptools protocol.

llhttp (httptools) rejects two things old ihuyi clients (PHP/C/JSP/Java demos) send: request heads with
bare ``\\n`` line ends, and raw non-ASCII bytes (UTF-8 or GBK) in the request target. Instead of a
hand-written HTTP parser we keep uvicorn's and put a small framing-aware normaliser in front of llhttp:

* head mode: buffer bytes, drop leading CR/LF, find the blank line ending the head (any mix of CRLF and
  LF), normalise the head (bare LF → CRLF; in the target every byte >= 0x80 and every space is
  percent-encoded) and feed it. A head that is already ASCII, CRLF-only and has a space-free target is
  fed unchanged (the fast path).
* body framing comes from the headers llhttp parsed out of the normalised head. ``Content-Length: N``:
  exactly N body bytes are passed through, then back to head mode, so every request of a pipelined
  batch is normalised on its own.
* anything else with a body (``Transfer-Encoding``, or framing headers we leave to llhttp to judge) is
  passed straight through until llhttp reports the message complete.

llhttp stays the authority on message boundaries: ``on_message_begin``/``on_message_complete`` tell us
whether it is inside a message, and while it is, bytes go to it untouched.

The pure parts (``find_head_end``, ``quote_target``, ``normalise_head``, ``split_head``, ``body_length``)
never raise anything but :class:`HeadError`.
"""

from __future__ import annotations

import asyncio
import urllib.parse

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hongyan.server.ihuyi_cycle import IhuyiCycle, Route, route_for

__all__ = [
    "MAX_HEAD",
    "HeadError",
    "LenientHttpToolsProtocol",
    "body_length",
    "find_head_end",
    "normalise_head",
    "quote_target",
    "split_head",
]

MAX_HEAD = 64 * 1024  # a request head (request line + headers) larger than this gets a 400

# Bytes percent-encoded in the request target: everything >= 0x80 (raw UTF-8/GBK) and the space.
_QUOTE = [bytes([b]) for b in range(256)]
for _b in [0x20, *range(0x80, 0x100)]:
    _QUOTE[_b] = b"%%%02X" % _b
del _b

# Parser modes
_HEAD = 0  # waiting for (the rest of) a request head
_COUNTED = 1  # passing through the remaining bytes of a Content-Length body
_PASS = 2  # passing everything through until llhttp is outside a message again
_RAW = 3  # after an upgrade: everything goes to llhttp, as in the parent class
_DONE = 4  # connection answered with a 400 or not to be kept alive: drop further bytes


class HeadError(ValueError):
    """The request head cannot be made into valid HTTP/1.x (or is too large); answered with a 400."""


def find_head_end(buf: bytes, start: int = 0) -> int:
    """Index just past the blank line that ends the head in ``buf``, or -1 if there is none yet.

    A blank line is LF, optional CR, LF; so ``\\r\\n\\r\\n``, ``\\n\\n``, ``\\n\\r\\n`` and ``\\r\\n\\n`` all
    end a head. ``start`` lets a caller that buffers resume the search near the end of what it scanned.
    """
    crlf = buf.find(b"\n\r\n", start)
    lf = buf.find(b"\n\n", start, crlf + 1 if crlf != -1 else len(buf))
    if lf != -1:
        return lf + 2
    return crlf + 3 if crlf != -1 else -1


def quote_target(target: bytes) -> bytes:
    """Percent-encode every byte >= 0x80 and every space of a request target."""
    if target.isascii() and b" " not in target:
        return target
    q = _QUOTE
    return b"".join([q[b] for b in target])


def normalise_head(head: bytes) -> bytes:
    """Make one request head into strict HTTP/1.x bytes ending in ``\\r\\n\\r\\n``.

    ``head`` is a request line and header lines, with or without the blank line that ends it. Line ends
    may be CRLF or bare LF. The request line is split as METHOD, first space … last space, VERSION; the
    target in between is stripped of surrounding blanks and has bytes >= 0x80 and spaces percent-encoded.
    Everything else (header syntax, method names, control characters) is left for llhttp to judge.
    A head that needs no change is returned as is (the same object).
    Raises :class:`HeadError` if there is no usable request line or a blank line inside the head.
    """
    if (
        head.isascii()
        and head.count(b"\n") == head.count(b"\r\n")
        and head.find(b"\r\n\r\n") == len(head) - 4
        and head.count(b" ", 0, head.find(b"\r\n")) == 2
    ):
        return head
    return _normalise(head)


def _normalise(head: bytes) -> bytes:
    lines = [line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()  # the blank line(s) ending the head
    if not lines or not all(lines):
        raise HeadError("blank line inside the request head")
    request_line = lines[0].strip(b" \t")
    first = request_line.find(b" ")
    last = request_line.rfind(b" ")
    if first <= 0 or last == first:
        raise HeadError("malformed request line")
    method = request_line[:first]
    version = request_line[last + 1 :]
    target = request_line[first + 1 : last].strip(b" \t")
    if not target or not method.isascii() or not version.startswith(b"HTTP/") or not version.isascii():
        raise HeadError("malformed request line")
    lines[0] = b"%s %s %s" % (method, quote_target(target), version)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def split_head(buffer: bytes, start: int = 0) -> tuple[bytes, bytes, bytes] | None:
    """Find the first complete head in ``buffer``: (head as sent, normalised head, the bytes after it).

    Returns None if the head is not complete yet; ``start`` resumes the search (pass the previous buffer
    length minus 3). The normalised head is the very object sent when no change was needed. Leading CR/LF
    are not stripped here (the protocol does that). Raises :class:`HeadError` if the head cannot be
    normalised or exceeds :data:`MAX_HEAD`.
    """
    end = buffer.find(b"\r\n\r\n", start)
    if end != -1:
        end += 4
        raw = buffer[:end]
        # CRLF-only up to the first CRLFCRLF: no bare LF, so no earlier blank line either.
        if raw.count(b"\n") == raw.count(b"\r\n"):
            if end > MAX_HEAD:
                raise HeadError("request head too large")
            if raw.isascii() and raw.count(b" ", 0, raw.find(b"\r\n")) == 2:
                return raw, raw, buffer[end:]  # the fast path
            return raw, _normalise(raw), buffer[end:]
    end = find_head_end(buffer, start)
    if end == -1:
        if len(buffer) > MAX_HEAD:
            raise HeadError("request head too large")
        return None
    if end > MAX_HEAD:
        raise HeadError("request head too large")
    raw = buffer[:end]
    return raw, normalise_head(raw), buffer[end:]


def body_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """How the body of a request with these (lower-cased) headers is framed, as llhttp parsed them.

    N for ``Content-Length: N`` (llhttp has already rejected duplicates and non-digits), 0 for none, and
    None when llhttp must frame the body itself (``Transfer-Encoding``, or anything unexpected).
    """
    fields = dict(headers)
    if b"transfer-encoding" in fields:
        return None
    value = fields.get(b"content-length")
    if value is None:
        return 0
    value = value.strip(b" \t")
    return int(value) if value.isdigit() else None


def _sniff_length(head: bytes) -> int:
    """N from a header spelled exactly ``Content-Length: N`` (the usual spelling), else 0."""
    i = head.find(b"\nContent-Length: ")
    if i == -1:
        return 0
    value = head[i + 17 : head.find(b"\r", i)]
    return int(value) if value.isdigit() else 0


class CoalescingTransport:
    """A transport whose writes within one event-loop iteration leave in one ``write``.

    uvicorn writes the response head and body separately: two send(2) calls and two TCP segments per small
    answer. Joining them costs one ``call_soon`` and saves a system call and a segment per request (most of
    the time spent in uvicorn's ``send`` on the Submit path). Everything else is passed through.
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class LenientHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol behind a request-head normaliser (see the module docstring)."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._route = route_for(self.app)  # the ihuyi paths answered without ASGI: server.ihuyi_cycle
        self._mode = _HEAD
        self._buf: bytes | bytearray = b""  # head mode: an incomplete head (a bytearray once buffering)
        self._scanned = 0  # head mode: how far _buf has been searched for the end of the head
        self._body_left = 0  # counted mode: body bytes still to pass through
        self._in_message = False  # llhttp is between on_message_begin and on_message_complete

    # llhttp callbacks: track whether llhttp is inside a message.
    def on_message_begin(self) -> None:
        self._in_message = True
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._in_message = False
        if not self.parser.should_keep_alive():
            # llhttp ignores data after a "close" message (lenient_data_after_close); so do we.
            self._mode = _DONE
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        route = self._route
        if route is not None and not self.expect_100_continue and self.limit_concurrency is None:
            method = self.parser.get_method()
            if (method == b"POST" or method == b"GET") and not self.parser.should_upgrade():
                parsed = httptools.parse_url(self.url)
                path = parsed.path.decode("ascii")
                if "%" in path:
                    path = urllib.parse.unquote(path)
                international = route.paths.get(self.root_path + path)
                if international is not None:
                    self._start_ihuyi(route, international, method == b"POST", parsed.query or b"")
                    return
        super().on_headers_complete()

    def _start_ihuyi(self, route: Route, international: bool, post: bool, query_string: bytes) -> None:
        """As uvicorn starts a request cycle (or queues it behind a pipelined one), with an ``IhuyiCycle``."""
        content_type = ""
        forwarded: list[bytes] = []
        for name, value in self.headers:
            if name == b"content-type":
                content_type = content_type or value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded.append(value)
        cycle = IhuyiCycle(
            route,
            international=international,
            post=post,
            query_string=query_string,
            content_type=content_type,
            client_ip=route.client_ip(self.client, forwarded),
            transport=self.transport,
            flow=self.flow,
            default_headers=self.server_state.default_headers,
            keep_alive=self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        existing = self.cycle
        self.cycle = cycle  # type: ignore[assignment]
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, None)  # type: ignore[arg-type]
        else:
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, None))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self._receive(data)
        except HeadError as exc:
            self._reject(f"Invalid HTTP request received: {exc}.")
        except httptools.HttpParserError:
            self._reject("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            self._mode = _RAW
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _reject(self, msg: str) -> None:
        self._mode = _DONE
        self._buf = b""
        self.logger.warning(msg)
        if not self.transport.is_closing():
            self.send_400_response(msg)

    def _receive(self, data: bytes) -> None:
        feed = self.parser.feed_data
        while data:
            mode = self._mode
            if mode == _HEAD:
                if self._buf:
                    buf = self._buf
                    buf += data  # a bytearray: appending many small reads stays linear
                elif data[0] in (10, 13):
                    buf = data.lstrip(b"\r\n")
                    if not buf:
                        return
                else:
                    buf = data
                found = split_head(buf, self._scanned)
                if found is None:
                    if buf is not self._buf:
                        self._buf = bytearray(buf)
                    self._scanned = max(0, len(buf) - 3)
                    return
                raw, head, data = found
                self._buf = b""
                self._scanned = 0
                if data and head is raw:
                    # Fast path for a head and its whole body in one read: one feed for both, when the head
                    # has the usual "Content-Length: N". Only an optimisation: if llhttp frames it otherwise,
                    # the checks below (llhttp is the authority on message boundaries) take over.
                    n = _sniff_length(head)
                    if n and n <= len(data):
                        end = len(head) + n
                        feed(buf if end == len(buf) else buf[:end])
                        data = data[n:]
                        if self._mode == _HEAD and self._in_message:
                            self._mode = _PASS
                        continue
                feed(head)
                if self._mode != _HEAD or not self._in_message:
                    continue  # no body (next head), or _DONE/_RAW: let those branches see the rest
                # Framing from the headers llhttp parsed out of the normalised head.
                length = body_length(self.headers)
                if length:
                    self._mode = _COUNTED
                    self._body_left = length
                else:
                    self._mode = _PASS
            elif mode == _COUNTED:
                n = self._body_left
                if len(data) < n:
                    feed(data)
                    self._body_left = n - len(data)
                    return
                feed(data if len(data) == n else data[:n])
                data = data[n:]
                self._body_left = 0
                if self._mode == _COUNTED:
                    self._mode = _PASS if self._in_message else _HEAD
            elif mode == _PASS:
                # llhttp frames this message (chunked body). Limitation: if the same read also holds the
                # start of a following pipelined request, llhttp parses that request itself, strictly
                # (no bare-LF or raw non-ASCII leniency); we stay in this mode until llhttp is between
                # messages at the end of a read, and normalise again from the next head on.
                feed(data)
                if self._mode == _PASS and not self._in_message:
                    self._mode = _HEAD
                return
            elif mode == _RAW:
                feed(data)
                return
            else:  # _DONE
                return
