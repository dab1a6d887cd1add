"""The pusher's HTTP/1.1 client: POST one body, get the status and the first MAX_ANSWER bytes of the answer.

Why not a library: the pusher used aiohttp (httpx before it, ~700 µs), and its client still cost ~65–120 µs of
CPU per push on the event loop (request and response objects, URL normalization, cookie and redirect machinery,
a stream reader per answer), a large share of a whole message's cost. This client does only what a push needs,
on an asyncio Protocol per connection with httptools (llhttp, as uvicorn uses) for the answer.
``bench/push_client_bench.py`` (20,000 form pushes, 32 at a time on uvloop, against a local keep-alive receiver
in another process; process CPU per push, building the form body included): aiohttp 3.x 87.2 / 87.3 / 88.4 µs,
this client 17.4 / 17.7 / 17.7 µs (runs alternated), about 5x less.

What it does: keep-alive connections pooled per (scheme, host, port), at most ``per_host`` each (the pusher runs
at most that many pushes per host at once), idle ones closed after IDLE_S; a connection the server closed (EOF,
``Connection: close``, HTTP/1.0 without keep-alive), one that answered too much or anything unexpected is never
reused. A request on a reused idle connection that fails before any byte of the answer arrived (the server
closed it meanwhile: the keep-alive race) is retried once on a fresh connection; nothing else is retried. http
and https (certificates verified, ``ssl.create_default_context()``). One total timeout per request covers the
wait for a connection, connect, send and the answer; on timeout the connection is closed. Redirects are never
followed, no cookies are kept, proxy environment variables are ignored. Every failure is a PushHTTPError (a
timeout a PushTimeout, which is also a TimeoutError) with a readable message: it goes into the outbox row's
last error.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from collections import deque
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlsplit

import httptools

MAX_ANSWER = 64 * 1024  # bytes of an answer kept; past them the connection is closed
IDLE_S = 30.0  # an idle keep-alive connection is closed after this long
USER_AGENT = "hongyan-push/1"


class PushHTTPError(Exception):
    """A push that got no complete answer: refused, reset, closed, TLS, timeout, a bad answer."""


class PushTimeout(PushHTTPError, TimeoutError):
    """No complete answer within the request's timeout."""


class _Closed(PushHTTPError):
    """The connection ended before any byte of the answer arrived (retried once when it had been idle)."""


class _Target:
    """A URL made ready to send: its pool key and the bytes of the request line and host header."""

    __slots__ = ("head", "host", "key", "port", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PushHTTPError(f"not an http(s) URL: {url!r}")
        self.tls = parts.scheme == "https"
        try:
            port = parts.port
        except ValueError as exc:
            raise PushHTTPError(f"bad port in {url!r}") from exc
        default = 443 if self.tls else 80
        self.port = port or default
        host = parts.hostname
        try:
            host.encode("ascii")
        except UnicodeEncodeError:
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise PushHTTPError(f"bad host name in {url!r}") from exc
        self.host = host
        self.key = (parts.scheme, host, self.port)
        name = f"[{host}]" if ":" in host else host
        authority = name if self.port == default else f"{name}:{self.port}"
        # percent-encode what may not go on the request line as is (spaces, non-ASCII, controls), keep escapes
        path = quote(parts.path or "/", safe="!$%&'()*+,/:;=@~[]")
        if parts.query:
            path += "?" + quote(parts.query, safe="!$%&'()*+,/:;=?@~[]")
        head = f"POST {path} HTTP/1.1\r\nhost: {authority}\r\nuser-agent: {USER_AGENT}\r\n"
        if parts.username is not None:  # user:password@ in the URL: basic auth, as other clients do
            cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            head += f"authorization: Basic {base64.b64encode(cred).decode()}\r\n"
        self.head = head.encode("ascii")


def _header_block(headers: Mapping[str, str]) -> bytes:
    out = []
    for name, value in headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value or ":" in name:
            raise PushHTTPError(f"bad header {name!r}")
        out.append(f"{name}: {value}\r\n")
    return "".join(out).encode("latin-1")


class _Conn(asyncio.Protocol):
    """One connection: sends a request, parses its answer; reusable when the answer ended cleanly and the server
    did not ask to close."""

    __slots__ = (
        "_body",
        "_chunked",
        "_close_delimited",
        "_done",
        "_got_bytes",
        "_length",
        "_parser",
        "_pool",
        "_status",
        "_timer",
        "_waiter",
        "closed",
        "idle_since",
        "reusable",
        "transport",
        "used",
    )

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = False
        self.used = False  # has answered a request before (a failure on it may be the keep-alive race)
        self.idle_since = 0.0
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._body = bytearray()
        self._status = 0
        self._got_bytes = False
        self._done = False
        self._length = False
        self._chunked = False
        self._close_delimited = False

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self._waiter is None or self._done:  # bytes nobody asked for: the connection is not trusted again
            self.close()
            return
        self._got_bytes = True
        try:
            self._parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserUpgrade:
            self._fail(PushHTTPError("bad answer: protocol upgrade"))
        except httptools.HttpParserError as exc:
            if not self._done:
                self._fail(PushHTTPError(f"bad answer: {exc.args[0] if exc.args else exc}"))
            else:  # junk after a complete answer
                self.close()

    def eof_received(self) -> None:
        self._ended(None)  # returning None: the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)
        self._gone()

    # --- httptools callbacks ---

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length":
            self._length = True
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            self._chunked = True

    def on_headers_complete(self) -> None:
        if self._done:  # an answer nobody asked for, after the one that was: the connection is not trusted again
            self.reusable = False
            return
        parser = self._parser
        self._status = parser.get_status_code()  # type: ignore[union-attr]
        self.reusable = parser.should_keep_alive()  # type: ignore[union-attr]
        no_body = self._status in (204, 304) or self._status < 200
        self._close_delimited = not (self._length or self._chunked or no_body)

    def on_body(self, chunk: bytes) -> None:
        if self._done:
            return
        body = self._body
        room = MAX_ANSWER - len(body)
        if len(chunk) < room:
            body += chunk
            return
        body += chunk[:room]  # enough: the rest is not read, and the connection is not reused
        self.reusable = False
        self._finish()
        self.close()

    def on_message_complete(self) -> None:
        if self._done:
            return
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._body.clear()
            self._status, self._length, self._chunked = 0, False, False
            return
        self._finish()

    # --- the request ---

    def send(self, data: bytes, deadline: float) -> asyncio.Future[tuple[int, bytes]]:
        loop = self._pool.loop
        self._waiter = waiter = loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._body = bytearray()
        self._status, self._got_bytes, self._done = 0, False, False
        self._length = self._chunked = self._close_delimited = self.reusable = False
        self._timer = loop.call_at(deadline, self._timed_out)
        self.transport.write(data)  # type: ignore[union-attr]
        return waiter

    def _take_waiter(self) -> asyncio.Future[tuple[int, bytes]] | None:
        """The request's future if nobody answered it yet (taken: answered once), its timer stopped."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter, self._waiter = self._waiter, None
        return waiter if waiter is not None and not waiter.done() else None

    def _finish(self) -> None:
        self._done = True
        waiter = self._take_waiter()
        if waiter is not None:
            waiter.set_result((self._status, bytes(self._body)))

    def _fail(self, exc: PushHTTPError) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(PushTimeout(f"no answer within {self._pool.timeout_s:g} s"))

    def _ended(self, exc: Exception | None) -> None:
        """The server closed (EOF) or the connection was lost: complete a close-delimited answer, else fail."""
        self.reusable = False
        if self._waiter is None or self._done:
            return
        if self._status and self._close_delimited:
            self._finish()
        elif isinstance(exc, ssl.SSLError):
            self._fail(PushHTTPError(f"TLS error: {exc}"))
        elif not self._got_bytes:
            why = "reset by the server" if isinstance(exc, ConnectionResetError) else "closed by the server"
            self._fail(_Closed(f"connection {why} before any answer"))
        else:
            why = f": {exc}" if exc else ""
            self._fail(PushHTTPError(f"connection closed in the middle of the answer{why}"))

    def close(self, why: str = "connection closed") -> None:
        """Close at once; a request under way fails with ``why``."""
        self.reusable = False
        self._done = True
        waiter = self._take_waiter()
        if waiter is not None:
            waiter.set_exception(PushHTTPError(why))
        if self.transport is not None and not self.closed:
            self.transport.abort()
        self._gone()

    def _gone(self) -> None:
        if not self.closed:
            self.closed = True
            self._pool.forget(self)


class _Pool:
    """The connections to one (scheme, host, port): all of them (open or being opened) and the idle ones, last
    used last."""

    __slots__ = ("client", "conns", "idle", "key", "loop", "timeout_s", "waiters")

    def __init__(self, client: PushClient, key: tuple[str, str, int]) -> None:
        self.client = client
        self.key = key
        self.loop = client.loop
        self.timeout_s = client.timeout_s
        self.conns: set[_Conn] = set()
        self.idle: list[_Conn] = []
        self.waiters: deque[asyncio.Future[None]] = deque()

    def take_idle(self) -> _Conn | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.transport.is_closing() or self.loop.time() - conn.idle_since > IDLE_S:  # type: ignore[union-attr]
                conn.close()
                continue
            return conn
        return None

    def release(self, conn: _Conn) -> None:
        if conn.closed:
            return
        if not conn.reusable or self.client.closed:
            conn.close()
            return
        conn.used = True
        conn.idle_since = self.loop.time()
        self.idle.append(conn)
        self.client.watch_idle()
        self.wake()

    def forget(self, conn: _Conn) -> None:
        """A connection closed: it no longer counts, and a waiter may open another."""
        self.conns.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        self.wake()

    def wake(self) -> None:
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    def drop_idle(self, before: float) -> None:
        for conn in [c for c in self.idle if c.idle_since <= before]:
            conn.close()


class PushClient:
    """POSTs with keep-alive pools per host; ``close()`` closes every connection."""

    def __init__(self, *, per_host: int, timeout_s: float, ssl_context: ssl.SSLContext | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.per_host = max(1, per_host)
        self.timeout_s = timeout_s
        self._ssl = ssl_context  # made on the first https push when not given
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._targets: dict[str, _Target] = {}
        self._idle_check: asyncio.TimerHandle | None = None
        self.closed = False

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """POST ``body`` with ``headers`` (content-type among them) to ``url``: the status and at most MAX_ANSWER
        bytes of the answer. Raises PushHTTPError (PushTimeout past the timeout)."""
        if self.closed:
            raise PushHTTPError("the push client is closed")
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= 4096:
                self._targets.clear()
            target = self._targets[url] = _Target(url)
        data = b"%s%scontent-length: %d\r\n\r\n%s" % (target.head, _header_block(headers), len(body), body)
        pool = self._pools.get(target.key)
        if pool is None:
            pool = self._pools[target.key] = _Pool(self, target.key)
        deadline = self.loop.time() + self.timeout_s
        conn = pool.take_idle() or await self._acquire(pool, target, deadline, fresh=False)
        if conn.used:
            try:
                return await self._exchange(pool, conn, data, deadline)
            except _Closed:  # the server closed the idle connection meanwhile: once more, on a fresh one
                conn = await self._acquire(pool, target, deadline, fresh=True)
        try:
            return await self._exchange(pool, conn, data, deadline)
        except _Closed as exc:
            raise PushHTTPError(str(exc)) from None

    async def _exchange(self, pool: _Pool, conn: _Conn, data: bytes, deadline: float) -> tuple[int, bytes]:
        try:
            return await conn.send(data, deadline)
        except asyncio.CancelledError:
            conn.close()
            raise
        finally:
            pool.release(conn)

    async def _acquire(self, pool: _Pool, target: _Target, deadline: float, *, fresh: bool) -> _Conn:
        """An idle connection that came back while waiting for room under ``per_host`` (unless ``fresh``), or a
        new one."""
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    if not fresh and (conn := pool.take_idle()) is not None:
                        return conn
                    if len(pool.conns) < self.per_host:
                        break
                    if fresh and pool.idle:  # all slots taken, some idle: make room for the fresh one
                        pool.idle[0].close()
                        continue
                    waiter = self.loop.create_future()
                    pool.waiters.append(waiter)
                    try:
                        await waiter
                    except asyncio.CancelledError:
                        if waiter.done() and not waiter.cancelled():
                            pool.wake()  # pass the turn on
                        raise
                    if self.closed:
                        raise PushHTTPError("the push client is closed")
                conn = _Conn(pool)
                pool.conns.add(conn)
                try:
                    await self.loop.create_connection(
                        lambda: conn,
                        target.host,
                        target.port,
                        ssl=self._tls() if target.tls else None,
                        server_hostname=target.host if target.tls else None,
                    )
                except BaseException:
                    conn.close()
                    raise
        except TimeoutError as exc:
            raise PushTimeout(f"could not connect to {target.host}:{target.port} within {self.timeout_s:g} s") from exc
        except ssl.SSLError as exc:
            raise PushHTTPError(f"TLS error with {target.host}:{target.port}: {exc.reason or exc}") from exc
        except ConnectionRefusedError as exc:
            raise PushHTTPError(f"connection refused by {target.host}:{target.port}") from exc
        except socket.gaierror as exc:
            raise PushHTTPError(f"cannot resolve {target.host}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise PushHTTPError(f"cannot connect to {target.host}:{target.port}: {exc.strerror or exc}") from exc
        if self.closed or conn.closed:
            conn.close()
            raise PushHTTPError("the push client is closed" if self.closed else "connection closed at once")
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def watch_idle(self) -> None:
        if self._idle_check is None and not self.closed:
            self._idle_check = self.loop.call_later(IDLE_S / 3, self._drop_idle)

    def _drop_idle(self) -> None:
        self._idle_check = None
        before = self.loop.time() - IDLE_S
        for pool in self._pools.values():
            pool.drop_idle(before)
        for key in [k for k, p in self._pools.items() if not p.conns and not p.waiters]:
            del self._pools[key]
        if any(p.idle for p in self._pools.values()):
            self.watch_idle()

    def connections(self) -> int:
        """How many connections are open (or being opened), all hosts together."""
        return sum(len(p.conns) for p in self._pools.values())

    async def close(self) -> None:
        """Close every connection; requests under way fail."""
        self.closed = True
        if self._idle_check is not None:
            self._idle_check.cancel()
            self._idle_check = None
        for pool in self._pools.values():
            for conn in list(pool.conns):
                conn.close("the push client is closed")
            for w in pool.waiters:
                if not w.done():
                    w.set_result(None)
        self._pools.clear()
        await asyncio.sleep(0)  # let the transports finish closing
