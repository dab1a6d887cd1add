"""The lenient HTTP front over raw sockets: a real uvicorn server answers old clients' sloppy requests."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.server import ServerState

from hongyan.server.lenient_http import (
    MAX_HEAD,
    HeadError,
    LenientHttpToolsProtocol,
    body_length,
    find_head_end,
    normalise_head,
    quote_target,
    split_head,
)
from hongyan.server.run import uvicorn_config


async def echo_app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    payload = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "query_string": scope["query_string"].decode("latin-1"),
            "http_version": scope["http_version"],
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "body": body.decode("latin-1"),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def port():
    port = _free_port()
    server = uvicorn.Server(uvicorn_config(echo_app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:
        assert thread.is_alive(), "server thread died"
        assert time.monotonic() < deadline, "server did not start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.005)  # poll interval, not a wait for some fixed event
    yield port
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive()


def read_response(sock: socket.socket, buf: bytearray) -> tuple[bytes, dict[str, str], bytes]:
    """Read one response (status line, headers, Content-Length body); leftover bytes stay in ``buf``."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a complete response: {bytes(buf)!r}")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a response body")
        rest += chunk
    buf[:] = rest[length:]
    return status_line, headers, rest[:length]


def read_to_close(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def exchange(port: int, *sends: bytes, responses: int = 1) -> list[tuple[bytes, dict[str, str], bytes]]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for data in sends:
            sock.sendall(data)
        buf = bytearray()
        return [read_response(sock, buf) for _ in range(responses)]


def echoed(resp: tuple[bytes, dict[str, str], bytes]) -> dict:
    status_line, _, body = resp
    assert status_line == b"HTTP/1.1 200 OK", body
    return json.loads(body)


def test_normal_form_post(port) -> None:
    (resp,) = exchange(
        port,
        b"POST /webservice/sms.php?method=Submit HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 21\r\n\r\n"
        b"account=C1&mobile=138",
    )
    assert resp[1]["content-type"] == "application/json" and "date" in resp[1] and "server" not in resp[1]
    assert echoed(resp) == {
        "method": "POST",
        "path": "/webservice/sms.php",
        "query_string": "method=Submit",
        "http_version": "1.1",
        "headers": [
            ["host", "x"],
            ["content-type", "application/x-www-form-urlencoded"],
            ["content-length", "21"],
        ],
        "body": "account=C1&mobile=138",
    }


def test_bare_lf_line_ends(port) -> None:
    head = b"POST /webservice/sms.php?method=Submit HTTP/1.1\nHost: x\nUser-Agent: demo\n"
    head += b"Content-Length: 3\n\n"
    (resp,) = exchange(port, head + b"abc")
    got = echoed(resp)
    assert got["query_string"] == "method=Submit" and got["body"] == "abc"
    assert got["headers"] == [["host", "x"], ["user-agent", "demo"], ["content-length", "3"]]


@pytest.mark.parametrize(
    ("encoding", "expected"), [("utf-8", "content=%E6%82%A8%E5%A5%BD"), ("gbk", "content=%C4%FA%BA%C3")]
)
def test_raw_non_ascii_target(port, encoding, expected) -> None:
    request = "GET /webservice/sms.php?content=您好 HTTP/1.1\r\nHost: x\r\n\r\n"
    (resp,) = exchange(port, request.encode(encoding))
    got = echoed(resp)
    assert got["query_string"] == expected and got["path"] == "/webservice/sms.php" and got["method"] == "GET"


def test_raw_space_in_query(port) -> None:
    (resp,) = exchange(port, b"GET /sms.php?content=hello world&x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert echoed(resp)["query_string"] == "content=hello%20world&x=1"


def test_http10_closes_after_answer(port) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /old?a=1 HTTP/1.0\r\nHost: x\r\n\r\n")
        data = read_to_close(sock)
    status_line, _, rest = data.partition(b"\r\n")
    head, _, body = rest.partition(b"\r\n\r\n")
    assert status_line == b"HTTP/1.1 200 OK" and b"connection: close" in head.lower()
    got = json.loads(body)
    assert got["http_version"] == "1.0" and got["path"] == "/old" and got["query_string"] == "a=1"


def test_expect_100_continue(port) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            assert chunk
            buf += chunk
        interim, _, rest = bytes(buf).partition(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue"
        sock.sendall(b"hello")
        got = echoed(read_response(sock, bytearray(rest)))
    assert got["body"] == "hello" and ["expect", "100-continue"] in got["headers"]


def test_chunked_body(port) -> None:
    (resp,) = exchange(
        port,
        b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"3\r\nabc\r\n4\r\n\xe4\xbd\xa0d\r\n0\r\n\r\n",
    )
    assert echoed(resp)["body"] == "abc\xe4\xbd\xa0d"


def test_chunked_then_keep_alive(port) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        buf = bytearray()
        sock.sendall(b"POST /a HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n2\r\nhi\r\n0\r\n\r\n")
        assert echoed(read_response(sock, buf))["body"] == "hi"
        sock.sendall("GET /b?q=中 HTTP/1.1\nHost: x\n\n".encode())
        assert echoed(read_response(sock, buf))["query_string"] == "q=%E4%B8%AD"


def test_stray_crlf_after_body_then_second_request(port) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        buf = bytearray()
        sock.sendall(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\r\n\r\n")
        first = echoed(read_response(sock, buf))
        sock.sendall(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        second = echoed(read_response(sock, buf))
    assert (first["path"], first["body"]) == ("/a", "abc")
    assert (second["path"], second["body"]) == ("/b", "")


def test_stray_crlf_and_second_request_in_one_send(port) -> None:
    data = b"POST /a HTTP/1.1\nContent-Length: 1\n\nx\r\n\r\nGET /b?c=\xb9\xfa HTTP/1.1\n\n"
    r = exchange(port, data, responses=2)
    assert echoed(r[0])["body"] == "x" and echoed(r[1])["query_string"] == "c=%B9%FA"


def test_two_pipelined_requests_in_one_send(port) -> None:
    one = b"POST /a HTTP/1.1\nHost: x\nContent-Length: 2\n\nhi"
    two = "POST /b?c=好 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nthere".encode()
    r = exchange(port, one + two, responses=2)
    first, second = echoed(r[0]), echoed(r[1])
    assert (first["path"], first["body"]) == ("/a", "hi")
    assert (second["path"], second["query_string"], second["body"]) == ("/b", "c=%E5%A5%BD", "there")


def test_head_split_into_single_bytes(port) -> None:
    data = "POST /a?x=中 文 HTTP/1.1\nHost: x\r\nContent-Length: 2\n\nok".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
        got = echoed(read_response(sock, bytearray()))
    assert got["query_string"] == "x=%E4%B8%AD%20%E6%96%87" and got["body"] == "ok"


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02 garbage\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"A" * (MAX_HEAD + 10),
        b"GET /a HTTP/1.1\r\nX: " + b"y" * MAX_HEAD + b"\r\n\r\n",
    ],
    ids=["binary", "no-target", "bad-length", "endless-head", "huge-head"],
)
def test_garbage_gets_400_and_close(port, garbage) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(garbage)
        data = read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"connection: close" in data
    (resp,) = exchange(port, b"GET /still-alive HTTP/1.1\r\nHost: x\r\n\r\n")
    assert echoed(resp)["path"] == "/still-alive"


class FakeTransport(asyncio.Transport):
    """Collects what the protocol writes; lets a test feed bytes one call at a time, deterministically."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def test_protocol_fed_one_byte_per_call() -> None:
    config = uvicorn_config(echo_app, "127.0.0.1", 0)
    proto = LenientHttpToolsProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    transport = FakeTransport()
    proto.connection_made(transport)
    data = "\r\n\nPOST /a?x=中 HTTP/1.1\nContent-Length: 2\n\nokGET /b HTTP/1.0\r\n\r\n".encode("gbk")
    for i in range(len(data)):
        proto.data_received(data[i : i + 1])
    for _ in range(200):
        if transport.closed:
            break
        await asyncio.sleep(0.005)
    assert transport.closed
    buf = bytes(transport.written)
    bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1]) for part in buf.split(b"HTTP/1.1 200 OK\r\n")[1:]]
    assert [(b["path"], b["query_string"], b["body"], b["http_version"]) for b in bodies] == [
        ("/a", "x=%D6%D0", "ok", "1.1"),
        ("/b", "", "", "1.0"),
    ]
    proto.connection_lost(None)


# The pure parts of the normaliser


def test_find_head_end_accepts_any_mix_of_line_ends() -> None:
    assert find_head_end(b"GET / HTTP/1.1\r\n\r\nrest") == 18
    assert find_head_end(b"GET / HTTP/1.1\n\nrest") == 16
    assert find_head_end(b"GET / HTTP/1.1\nA: b\r\n\nrest") == 22
    assert find_head_end(b"GET / HTTP/1.1\r\nA: b\n\r\nrest") == 23
    assert find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n") == -1


def test_normalise_head_fast_path_returns_the_same_object() -> None:
    head = b"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n"
    assert normalise_head(head) is head


def test_normalise_head_slow_path() -> None:
    assert normalise_head("GET  /a?b=您 c  HTTP/1.1\nHost: x\r\nX: \xff\n\n".encode()) == (
        "GET /a?b=%E6%82%A8%20c HTTP/1.1\r\nHost: x\r\nX: \xff\r\n\r\n".encode()
    )
    assert quote_target(b"/a") == b"/a"
    with pytest.raises(HeadError):
        normalise_head(b"GET /a HTTP/1.1\r\n\r\nX: y\r\n\r\n")
    with pytest.raises(HeadError):
        normalise_head(b"GET /a\r\n\r\n")


def test_split_head_fast_and_slow() -> None:
    buf = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nnext"
    raw, head, rest = split_head(buf)
    assert head is raw and raw == buf[:-4] and rest == b"next"
    # A CRLFCRLF later than a bare-LF blank line is not the end of the first head.
    assert split_head(b"GET /a HTTP/1.1\n\nGET /b HTTP/1.1\r\n\r\n") == (
        b"GET /a HTTP/1.1\n\n",
        b"GET /a HTTP/1.1\r\n\r\n",
        b"GET /b HTTP/1.1\r\n\r\n",
    )
    assert split_head(b"GET /a HTTP/1.1\r\nHost: x\r\n") is None
    with pytest.raises(HeadError):
        split_head(b"x" * (MAX_HEAD + 1))


def test_body_length() -> None:
    assert body_length([(b"host", b"x")]) == 0
    assert body_length([(b"host", b"x"), (b"content-length", b"12")]) == 12
    assert body_length([(b"content-length", b"-1")]) is None
    assert body_length([(b"transfer-encoding", b"chunked")]) is None


PIECES = [b"GET", b" ", b"/a?b=", b"\xe6\x82\xa8", b"HTTP/1.1", b"\r\n", b"\n", b"\r", b"X: y"]


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=600),
        st.lists(
            st.sampled_from(PIECES),
            max_size=40,
        ).map(b"".join),
    )
)
def test_normaliser_raises_only_head_error(data: bytes) -> None:
    try:
        found = split_head(data)
    except HeadError:
        return
    if found is None:
        assert find_head_end(data) == -1
        return
    raw, head, rest = found
    assert raw + rest == data
    assert head.endswith(b"\r\n\r\n") and head.find(b"\r\n\r\n") == len(head) - 4
    request_line = head.split(b"\r\n", 1)[0]
    assert request_line.isascii() and request_line.count(b" ") == 2
    assert normalise_head(head) == head  # idempotent
