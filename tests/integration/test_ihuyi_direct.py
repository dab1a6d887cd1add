"""The ihuyi endpoints answered straight from the HTTP protocol (server.ihuyi_cycle) give the same bytes as ASGI.

Two real uvicorn servers (our protocol) serve one platform: the app as ``create_app`` builds it (the direct path)
and the same app behind a pass-through ASGI wrapper (so every request takes the ASGI path). Each raw request goes
to both; the answers must be byte for byte equal once the Date header and the smsid digits are masked.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import pytest
import uvicorn

from hongyan.api.app import create_app
from hongyan.server import ihuyi_cycle
from hongyan.server.run import uvicorn_config
from hongyan.services.console_account import set_allowed_ips
from tests.conftest import MOBILE, SIGNATURE


class Passthrough:
    """An ASGI wrapper: the protocol no longer recognises the app, so every request goes through ASGI."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


@pytest.fixture
async def servers(platform, monkeypatch):
    """(direct port, ASGI port, count of requests the direct path answered)."""
    answered = [0]
    run = ihuyi_cycle.IhuyiCycle.run_asgi

    async def counting(self, app) -> None:
        answered[0] += 1
        await run(self, app)

    monkeypatch.setattr(ihuyi_cycle.IhuyiCycle, "run_asgi", counting)
    app = create_app(platform.settings, platform=platform)
    running = []
    for target in (app, Passthrough(app)):
        server = uvicorn.Server(uvicorn_config(target, "127.0.0.1", 0, log_level="error"))
        server.config.lifespan = "off"
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done(), task
            await asyncio.sleep(0.01)
        running.append((server, task, server.servers[0].sockets[0].getsockname()[1]))
    yield running[0][2], running[1][2], answered
    for server, task, _ in running:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    m = re.search(rb"\r\ncontent-length: (\d+)\r\n", head, re.I)
    assert m, head
    return head + await reader.readexactly(int(m.group(1)))


async def exchange(port: int, parts: list[bytes], responses: int = 1, pause: float = 0.0) -> list[bytes]:
    """Send ``parts`` (with ``pause`` between them) and read ``responses`` answers; b"<closed>" if it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i, part in enumerate(parts):
            if i and pause:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        out = [await asyncio.wait_for(_read_response(reader), 10) for _ in range(responses)]
        closed = await asyncio.wait_for(reader.read(1), 0.3) == b"" if responses else False
    except TimeoutError:
        closed = False
    finally:
        writer.close()
    return out + ([b"<closed>"] if closed else [])


def masked(raw: bytes) -> bytes:
    raw = re.sub(rb"\r\ndate: [^\r]*", b"\r\ndate: *", raw)
    return re.sub(rb"\d{20}", b"<smsid>", raw)


def post(path: str, body: bytes, *, version: bytes = b"1.1", extra: bytes = b"") -> bytes:
    return (
        b"POST " + path.encode() + b" HTTP/" + version + b"\r\nHost: t\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def form(live, **extra: str) -> bytes:
    fields = {
        "account": live.account,
        "password": live.apikey,
        "mobile": MOBILE,
        "content": f"【{SIGNATURE}】您的订单已发货",
    }
    fields.update(extra)
    return "&".join(f"{k}={quote(v)}" for k, v in fields.items()).encode()


async def both(servers, parts: list[bytes], responses: int = 1, pause: float = 0.0) -> list[bytes]:
    direct_port, asgi_port, _ = servers
    direct = await exchange(direct_port, parts, responses, pause)
    via_asgi = await exchange(asgi_port, parts, responses, pause)
    assert [masked(r) for r in direct] == [masked(r) for r in via_asgi]
    return direct


async def test_submit_answers_match_the_asgi_path(servers, live) -> None:
    sms = "/webservice/sms.php?method=Submit"
    [r] = await both(servers, [post(sms, form(live))])
    assert r.startswith(b"HTTP/1.1 200 OK\r\ndate: ") and b"<code>2</code>" in r
    assert b"\r\ncontent-type: text/xml; charset=utf-8\r\ncontent-length: " in r
    [r] = await both(servers, [post(sms + "&format=json", form(live))])
    assert b'{"code":2,' in r and b"application/json" in r
    [r] = await both(servers, [post(sms, form(live, password="wrong"))])
    assert b"<code>405</code>" in r
    query = form(live).decode()
    [r] = await both(servers, [f"GET {sms}&{query} HTTP/1.1\r\nHost: t\r\n\r\n".encode()])
    assert b"<code>2</code>" in r
    [r] = await both(servers, [post("/webservice/sms.php?method=GetNum", form(live))])
    assert b"<GetNumResult" in r
    [r] = await both(servers, [post("/webservice/sms.php?method=Nope&format=json", b"")])
    assert b'"code":0' in r
    [r] = await both(servers, [post("/webservice/isms.php?method=Submit", form(live, mobile="85291234567"))])
    assert b"<ismsid>" in r
    assert servers[2][0] == 7  # each answered by the direct path on the first server


async def test_connection_handling_matches(servers, live) -> None:
    sms = "/webservice/sms.php?method=Submit"
    two = await both(servers, [post(sms, form(live)) + post(sms + "&format=json", form(live))], responses=2)
    assert b"<code>2</code>" in two[0] and b'"code":2' in two[1]  # pipelined: answered in order
    closed = await both(servers, [post(sms, form(live), version=b"1.0")], responses=1)
    assert b"\r\nconnection: close\r\n" in closed[0] and closed[1] == b"<closed>"
    whole = post(sms, form(live))
    split = await both(servers, [whole[:-20], whole[-20:]], pause=0.05)  # the body arrives later
    assert b"<code>2</code>" in split[0]
    body = form(live)
    chunked = (
        b"POST " + sms.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % 10 + body[:10] + b"\r\n%x\r\n" % (len(body) - 10) + body[10:]
    )
    [r] = await both(servers, [chunked + b"\r\n", b"0\r\n\r\n"], pause=0.05)
    assert b"<code>2</code>" in r
    assert servers[2][0] == 5  # pipelined 2, HTTP/1.0, split, chunked: all on the direct path


async def test_expect_continue_takes_the_asgi_path(servers, live) -> None:
    """``Expect: 100-continue`` wants an interim answer before the body: left to uvicorn's ASGI cycle."""
    whole = post("/webservice/sms.php?method=Submit", form(live), extra=b"Expect: 100-continue\r\n")
    head, body = whole.split(b"\r\n\r\n", 1)
    for port in servers[:2]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + b"\r\n\r\n")
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10) == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        assert b"<code>2</code>" in await asyncio.wait_for(_read_response(reader), 10)
        writer.close()
    assert servers[2][0] == 0


async def test_too_large_body_answers_code_0_and_keeps_the_connection(servers, live) -> None:
    sms = "/webservice/sms.php?method=Submit"
    big = post(sms + "&format=json", b"content=" + b"x" * (70 * 1024))
    answers = await both(servers, [big + post(sms, form(live))], responses=2)
    assert b'"code":0' in answers[0] and b"<code>2</code>" in answers[1]


async def test_client_address_from_a_trusted_proxy(servers, platform, live) -> None:
    """X-Forwarded-For counts only from a trusted peer (127.0.0.1 here), as uvicorn's middleware decides."""
    await set_allowed_ips(platform, live.account, "10.9.8.7")
    sms = "/webservice/sms.php?method=Submit"
    [r] = await both(servers, [post(sms, form(live), extra=b"X-Forwarded-For: 10.9.8.7\r\n")])
    assert b"<code>2</code>" in r
    [r] = await both(servers, [post(sms, form(live))])
    assert b"<code>2</code>" not in r and b"<code>0</code>" not in r
    [r] = await both(servers, [post(sms, form(live), extra=b"X-Forwarded-For: 10.9.8.6\r\n")])
    assert b"<code>2</code>" not in r
