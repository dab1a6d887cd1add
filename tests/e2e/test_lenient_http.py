"""The HTTP server over raw sockets: the sloppy requests of the vendor's demos must all be answered."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st

from hongyan.server.lenient_http import HeadError, normalise_head, split_head
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
            "qs": scope["query_string"].decode("latin-1"),
            "version": scope["http_version"],
            "body": body.decode("latin-1"),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    srv = uvicorn.Server(uvicorn_config(echo_app, "127.0.0.1", port))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    yield port
    srv.should_exit = True
    thread.join(5)


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    buf[:] = rest[length:]
    return status, headers, rest[:length]


def exchange(port: int, *sends: bytes, responses: int = 1, pause: bool = False) -> list[tuple[int, dict, bytes]]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for data in sends:
            sock.sendall(data)
            if pause:
                time.sleep(0.001)
        buf = bytearray()
        return [read_response(sock, buf) for _ in range(responses)]


def echoed(resp) -> dict:
    status, _, body = resp
    assert status == 200, body
    return json.loads(body)


def test_plain_form_post(server) -> None:
    r = exchange(
        server,
        b"POST /webservice/sms.php?method=Submit HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\naccount=C",
    )
    assert echoed(r[0]) == {
        "method": "POST",
        "path": "/webservice/sms.php",
        "qs": "method=Submit",
        "version": "1.1",
        "body": "account=C",
    }


def test_bare_lf_line_ends(server) -> None:
    r = exchange(server, b"POST /webservice/sms.php?method=Submit HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc")
    assert echoed(r[0])["body"] == "abc"


@pytest.mark.parametrize("encoding,expected", [("utf-8", "%E6%82%A8%E5%A5%BD"), ("gbk", "%C4%FA%BA%C3")])
def test_raw_non_ascii_target(server, encoding, expected) -> None:
    r = exchange(server, "GET /webservice/sms.php?content=您好 HTTP/1.1\r\nHost: x\r\n\r\n".encode(encoding))
    assert echoed(r[0])["qs"] == f"content={expected}"


def test_space_in_target(server) -> None:
    r = exchange(server, b"GET /webservice/sms.php?content=a b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert echoed(r[0])["qs"] == "content=a%20b"


def test_http10_reads_until_close(server) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        sock.sendall(b"GET /x?a=1 HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b'"qs": "a=1"' in data


def test_expect_100_continue(server) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"abc")
        buf = bytearray(first.partition(b"\r\n\r\n")[2])
        assert echoed(read_response(sock, buf))["body"] == "abc"


def test_chunked_body(server) -> None:
    r = exchange(server, b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert echoed(r[0])["body"] == "abc"


def test_stray_crlf_after_body_then_next_request(server) -> None:
    r = exchange(
        server,
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\r\n\r\n",
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        responses=2,
        pause=True,
    )
    assert echoed(r[0])["path"] == "/a" and echoed(r[1])["path"] == "/b"


def test_pipelined_in_one_send(server) -> None:
    one = b"POST /a HTTP/1.1\nHost: x\nContent-Length: 2\n\nhi"
    two = "GET /b?c=好 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    r = exchange(server, one + two, responses=2)
    assert echoed(r[0])["body"] == "hi" and echoed(r[1])["qs"] == "c=%E5%A5%BD"


def test_head_split_in_single_bytes(server) -> None:
    data = "POST /a?x=中 HTTP/1.1\nHost: x\nContent-Length: 2\n\nok".encode()
    r = exchange(server, *[data[i : i + 1] for i in range(len(data))])
    assert echoed(r[0])["qs"] == "x=%E4%B8%AD" and echoed(r[0])["body"] == "ok"


@pytest.mark.parametrize("garbage", [b"\x00\x01\x02 garbage\r\n\r\n", b"GET\r\n\r\n", b"A" * 70_000])
def test_garbage_gets_400_and_server_lives(server, garbage) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        sock.sendall(garbage)
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 400")
    assert echoed(exchange(server, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")[0])["path"] == "/ok"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_normaliser_raises_only_head_error(data: bytes) -> None:
    try:
        found = split_head(data)
        normalise_head(data)
    except HeadError:
        return
    if found is not None:
        assert found[1].endswith(b"\r\n\r\n")
