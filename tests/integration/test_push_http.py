"""The pusher's HTTP client (``workers.push_http``) against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import itertools
import ssl
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hongyan.workers import push_http
from hongyan.workers.push_http import MAX_ANSWER, PushClient, PushHTTPError, PushTimeout

FORM = {"content-type": "application/x-www-form-urlencoded"}
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nsuccess"

# (connection number, request number on that connection, the request) → what to write: bytes, a list of pieces
# (written one by one), None (never answer) or CLOSE (close without answering); after the answer, CLOSE in a
# tuple (answer, CLOSE) closes the connection.
CLOSE = object()
Script = Callable[[int, int, bytes], object]


class RawServer:
    """An HTTP/1.1 server that answers raw bytes from a script, and counts connections and requests."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or (lambda c, n, req: OK)
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.requests: list[bytes] = []
        self.eofs = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, tls: ssl.SSLContext | None = None) -> RawServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/push", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn, n = self.connections, 0
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.eofs += 1
                    return
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                n += 1
                answer = self.script(conn, n, request)
                if isinstance(answer, asyncio.Future | asyncio.Event):
                    await answer.wait() if isinstance(answer, asyncio.Event) else await answer
                    continue
                close_after = False
                if isinstance(answer, tuple):
                    answer, close_after = answer[0], answer[1] is CLOSE
                if answer is CLOSE:
                    return
                if answer is None:
                    await asyncio.sleep(3600)
                for piece in answer if isinstance(answer, list) else [answer]:
                    if isinstance(piece, float):
                        await asyncio.sleep(piece)
                        continue
                    writer.write(piece)
                    await writer.drain()
                if close_after:
                    return
        except ConnectionError:
            pass
        finally:
            self.open -= 1
            writer.close()


@pytest.fixture
async def client():
    c = PushClient(per_host=4, timeout_s=2.0)
    yield c
    await c.close()


async def test_keep_alive_reuse_and_the_request(client) -> None:
    server = await RawServer().start()
    for i in range(5):
        assert await client.post(server.url(f"/p?a={i}"), b"x=%d" % i, FORM) == (200, b"success")
    assert server.connections == 1 and len(server.requests) == 5
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /p?a=0 HTTP/1.1" and body == b"x=0"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    assert headers == {
        b"host": f"127.0.0.1:{server.port}".encode(),
        b"user-agent": b"hongyan-push/1",
        b"content-type": b"application/x-www-form-urlencoded",
        b"content-length": b"3",
    }
    hook = {"content-type": "application/json", "webhook-id": "msg_1", "webhook-signature": "v1,abc"}
    assert await client.post(server.url("/h"), b"", hook) == (200, b"success")
    assert b"\r\nwebhook-id: msg_1\r\nwebhook-signature: v1,abc\r\ncontent-length: 0\r\n\r\n" in server.requests[-1]
    await server.close()


async def test_credentials_in_the_url_are_basic_auth_and_not_in_the_request_line(client) -> None:
    server = await RawServer().start()
    url = f"http://push%20user:p%40ss@127.0.0.1:{server.port}/r"
    assert await client.post(url, b"x=1", FORM) == (200, b"success")
    head = server.requests[0].partition(b"\r\n\r\n")[0]
    assert head.startswith(b"POST /r HTTP/1.1\r\n") and b"p%40ss" not in head and b"@" not in head
    assert b"\r\nauthorization: Basic " + base64.b64encode(b"push user:p@ss") + b"\r\n" in head
    await server.close()


async def test_one_write_per_request_and_a_quoted_target(monkeypatch) -> None:
    writes: list[bytes] = []
    made = push_http._Conn.connection_made

    def spy(self, transport) -> None:
        real = transport.write
        transport.write = lambda data: (writes.append(data), real(data))[1]
        made(self, transport)

    monkeypatch.setattr(push_http._Conn, "connection_made", spy)
    server = await RawServer().start()
    c = PushClient(per_host=1, timeout_s=2.0)
    assert await c.post(f"http://localhost:{server.port}/回执 x?q=推送&b=%2F", b"a=1", FORM) == (200, b"success")
    await c.close()
    await server.close()
    assert len(writes) == 1 and writes[0] == server.requests[0]
    assert writes[0].startswith(b"POST /%E5%9B%9E%E6%89%A7%20x?q=%E6%8E%A8%E9%80%81&b=%2F HTTP/1.1\r\n")
    assert f"\r\nhost: localhost:{server.port}\r\n".encode() in writes[0]


async def test_chunked_and_close_delimited_answers(client) -> None:
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nsuc\r\n4;x=y\r\ncess\r\n0\r\n\r\n"
    server = await RawServer(lambda c, n, r: chunked).start()
    assert await client.post(server.url(), b"", FORM) == (200, b"success")
    assert await client.post(server.url(), b"", FORM) == (200, b"success")
    assert server.connections == 1  # a chunked answer ends cleanly: the connection is kept
    await server.close()
    until_eof = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n", [b"succ", 0.01, b"ess"], CLOSE)
    server = await RawServer(lambda c, n, r: ([until_eof[0], *until_eof[1]], CLOSE)).start()
    assert await client.post(server.url(), b"", FORM) == (200, b"success")
    assert await client.post(server.url(), b"", FORM) == (200, b"success")
    assert server.connections == 2  # ended by the close: never reused
    await server.close()


async def test_an_oversize_answer_is_cut_and_its_connection_dropped(client) -> None:
    big = b"y" * (MAX_ANSWER * 3)
    answers = {
        1: b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(big), big),
        2: b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(big), big),
    }
    server = await RawServer(lambda c, n, r: answers.get(c, OK)).start()
    for _ in answers:
        status, answer = await client.post(server.url(), b"", FORM)
        assert status == 200 and answer == big[:MAX_ANSWER]
    assert await client.post(server.url(), b"", FORM) == (200, b"success")
    assert server.connections == 3 and client.connections() == 1
    await server.close()


async def test_redirects_are_just_a_status(client) -> None:
    other = await RawServer().start()
    moved = b"HTTP/1.1 302 Found\r\nlocation: %s\r\ncontent-length: 0\r\n\r\n" % other.url().encode()
    server = await RawServer(lambda c, n, r: moved).start()
    assert await client.post(server.url(), b"", FORM) == (302, b"")
    assert other.connections == 0 and server.connections == 1
    await server.close()
    await other.close()


async def test_the_keep_alive_race_is_retried_once_on_a_fresh_connection(client) -> None:
    # the first connection answers once, then closes when the second request arrives (as a server whose idle
    # timer fired while the request was on its way): the request goes again on a new connection
    server = await RawServer(lambda c, n, r: CLOSE if (c, n) == (1, 2) else OK).start()
    assert await client.post(server.url(), b"a", FORM) == (200, b"success")
    assert await client.post(server.url(), b"b", FORM) == (200, b"success")
    assert server.connections == 2 and [r[-1:] for r in server.requests] == [b"a", b"b", b"b"]
    await server.close()


async def test_an_idle_connection_the_server_closed_is_not_used(client) -> None:
    server = await RawServer(lambda c, n, r: (OK, CLOSE)).start()  # answers, then closes (no connection: close)
    assert await client.post(server.url(), b"", FORM) == (200, b"success")
    await asyncio.sleep(0.05)
    assert client.connections() == 0
    assert await client.post(server.url(), b"", FORM) == (200, b"success")
    assert server.connections == 2 and len(server.requests) == 2
    await server.close()


async def test_no_retry_on_a_fresh_connection_or_after_answer_bytes(client) -> None:
    server = await RawServer(lambda c, n, r: CLOSE).start()
    with pytest.raises(PushHTTPError, match="closed by the server before any answer"):
        await client.post(server.url(), b"", FORM)
    assert server.connections == 1
    await server.close()
    partial = b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nsuc"
    server = await RawServer(lambda c, n, r: OK if n == 1 else (partial, CLOSE)).start()
    assert await client.post(server.url(), b"", FORM) == (200, b"success")
    with pytest.raises(PushHTTPError, match="middle of the answer"):
        await client.post(server.url(), b"", FORM)
    assert server.connections == 1 and len(server.requests) == 2
    await server.close()


async def test_timeout_closes_the_connection() -> None:
    server = await RawServer(lambda c, n, r: None).start()  # accepts, reads, never answers
    c = PushClient(per_host=2, timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(PushTimeout, match=r"no answer within 0.3 s") as err:
        await c.post(server.url(), b"", FORM)
    assert 0.25 < time.monotonic() - t0 < 1.0 and isinstance(err.value, TimeoutError)
    assert c.connections() == 0
    await c.close()
    await server.close()


async def test_refused_and_garbage(client) -> None:
    from tests.support import free_port

    with pytest.raises(PushHTTPError, match=r"connection refused by 127.0.0.1:\d+"):
        await client.post(f"http://127.0.0.1:{free_port()}/x", b"", FORM)
    server = await RawServer(lambda c, n, r: b"SMTP ready\r\n\r\n").start()
    with pytest.raises(PushHTTPError, match="bad answer"):
        await client.post(server.url(), b"", FORM)
    await server.close()
    with pytest.raises(PushHTTPError, match="not an http"):
        await client.post("ftp://127.0.0.1/x", b"", FORM)
    with pytest.raises(PushHTTPError, match="bad header"):
        await client.post("http://127.0.0.1/x", b"", {"x-a": "1\r\nx-b: 2"})


@pytest.mark.parametrize(
    ("answer", "reused"),
    [
        (b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 7\r\n\r\nsuccess", False),
        (b"HTTP/1.0 200 OK\r\ncontent-length: 7\r\n\r\nsuccess", False),
        (b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 7\r\n\r\nsuccess", True),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nsuccess", True),
        (OK + b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", False),  # an answer more than asked for
        (OK + b"junk", False),
    ],
)
async def test_when_a_connection_is_kept(client, answer: bytes, reused: bool) -> None:
    server = await RawServer(lambda c, n, r: answer).start()
    for _ in range(3):
        assert await client.post(server.url(), b"", FORM) == (200, b"success")
    assert server.connections == (1 if reused else 3)
    await server.close()


async def test_per_host_cap() -> None:
    server = await RawServer(lambda c, n, r: [0.05, OK]).start()
    other = await RawServer(lambda c, n, r: [0.05, OK]).start()
    c = PushClient(per_host=2, timeout_s=5.0)
    urls = [server.url()] * 12 + [other.url()] * 4
    outs = await asyncio.gather(*[c.post(u, b"", FORM) for u in urls])
    assert outs == [(200, b"success")] * 16
    assert server.max_open == 2 and server.connections == 2 and other.connections == 2
    await c.close()
    await asyncio.sleep(0.05)
    assert server.eofs == 2 and other.eofs == 2  # closing the client closed every connection
    await server.close()
    await other.close()


async def test_close_fails_a_request_under_way() -> None:
    server = await RawServer(lambda c, n, r: None).start()
    c = PushClient(per_host=2, timeout_s=5.0)
    task = asyncio.create_task(c.post(server.url(), b"", FORM))
    await asyncio.sleep(0.1)
    await c.close()
    with pytest.raises(PushHTTPError, match="closed"):
        await task
    with pytest.raises(PushHTTPError, match="closed"):
        await c.post(server.url(), b"", FORM)
    await server.close()


async def test_idle_connections_are_closed(monkeypatch) -> None:
    monkeypatch.setattr(push_http, "IDLE_S", 0.15)
    server = await RawServer().start()
    c = PushClient(per_host=2, timeout_s=2.0)
    await asyncio.gather(c.post(server.url(), b"", FORM), c.post(server.url(), b"", FORM))
    assert c.connections() == 2
    await asyncio.sleep(0.4)
    assert c.connections() == 0 and server.eofs == 2
    assert await c.post(server.url(), b"", FORM) == (200, b"success")
    await c.close()
    await server.close()


def _self_signed() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


async def test_https(tmp_path) -> None:
    cert, key = _self_signed()
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = await RawServer().start(tls=server_ctx)
    trusting = ssl.create_default_context(cadata=cert.decode())  # verifies, against the test's own certificate
    c = PushClient(per_host=2, timeout_s=2.0, ssl_context=trusting)
    for url in (f"https://localhost:{server.port}/p", server.url(scheme="https")):
        for _ in range(2):
            assert await c.post(url, b"a=1", FORM) == (200, b"success")
    assert server.connections == 2  # one per host name, each kept alive
    assert f"\r\nhost: localhost:{server.port}\r\n".encode() in server.requests[0]
    await c.close()
    default = PushClient(per_host=2, timeout_s=2.0)  # the default context: a self-signed certificate is refused
    with pytest.raises(PushHTTPError, match=r"TLS error.*CERTIFICATE_VERIFY_FAILED"):
        await default.post(f"https://localhost:{server.port}/p", b"", FORM)
    await default.close()
    await server.close()


# --- arbitrary splits of an answer, against a real server and straight into a connection ---------------------

_BODY = st.binary(min_size=0, max_size=300)


def _encode(body: bytes, framing: str, sizes: list[int]) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nx-long-header: " + b"v" * 50 + b"\r\n"
    if framing == "length":
        return head + b"content-length: %d\r\n\r\n%s" % (len(body), body)
    if framing == "eof":
        return head + b"\r\n" + body
    out, i = [head + b"transfer-encoding: chunked\r\n\r\n"], 0
    for size in [*sizes, len(body)]:
        piece = body[i : i + max(1, size)]
        if piece:
            out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        i += len(piece)
    return b"".join([*out, b"0\r\n\r\n"])


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=25, deadline=None)
@given(
    _BODY, st.sampled_from(["length", "chunked", "eof"]), st.lists(st.integers(1, 64)), st.lists(st.integers(0, 2000))
)
def test_split_answers_from_a_server(body: bytes, framing: str, sizes: list[int], cuts: list[int]) -> None:
    raw = _encode(body, framing, sizes)
    pieces: list[object] = []
    for p in _split(raw, cuts):
        pieces += [p, 0.001]

    async def go() -> None:
        server = await RawServer(lambda c, n, r: (pieces, CLOSE) if framing == "eof" else pieces).start()
        c = PushClient(per_host=1, timeout_s=5.0)
        for _ in range(2):
            assert await c.post(server.url(), b"", FORM) == (200, body)
        assert server.connections == (2 if framing == "eof" else 1)
        await c.close()
        await server.close()

    asyncio.run(go())


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=MAX_ANSWER // 100), st.sampled_from(["length", "chunked", "eof"]),
       st.lists(st.integers(1, 512)), st.lists(st.integers(0, 100_000)))  # fmt: skip
def test_split_answers_fed_to_a_connection(body: bytes, framing: str, sizes: list[int], cuts: list[int]) -> None:
    async def go() -> None:
        c = PushClient(per_host=1, timeout_s=5.0)
        pool = push_http._Pool(c, ("http", "h", 80))
        conn = push_http._Conn(pool)
        pool.conns.add(conn)
        conn.connection_made(_Transport())
        waiter = conn.send(b"POST / HTTP/1.1\r\n\r\n", c.loop.time() + 5)
        for piece in _split(_encode(body, framing, sizes), cuts):
            conn.data_received(piece)
        if framing == "eof":
            assert not waiter.done()
            conn.eof_received()
        assert waiter.result() == (200, body)
        assert conn.reusable == (framing != "eof")

    asyncio.run(go())
