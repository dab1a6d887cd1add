"""Small helpers shared by tests that talk over real sockets."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response (status, lower-cased headers, Content-Length body); leftovers stay in ``buf``."""
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


async def accept_many(platform, creds, n: int, prefix: str = "1390000") -> list[str]:
    """Submit ``n`` order notices in parallel (mobiles ``prefix`` + 4 digits) through the real Submit use case;
    all must be accepted. Returns their smsids."""
    import asyncio

    from hongyan.pipeline.context import SubmitRequest
    from hongyan.services.submit import submit
    from tests.conftest import SIGNATURE

    outs = await asyncio.gather(
        *[
            submit(
                platform,
                SubmitRequest(
                    account=creds.account,
                    password=creds.apikey,
                    mobile=f"{prefix}{i:04d}",
                    content=f"【{SIGNATURE}】您的订单{i}已发货",
                ),
            )
            for i in range(n)
        ]
    )
    assert all(o.code == 2 for o in outs), [o for o in outs if o.code != 2][:3]
    return [o.smsid for o in outs]


XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"


def md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode("utf-8")).hexdigest()


def xml_answer(code: int, msg: str, smsid: str = "0", key: str = "smsid", root: str = "SubmitResult") -> bytes:
    """ihuyi's XML answer, byte for byte (SPEC.md §2)."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<{root} xmlns="http://106.ihuyi.com/">\n'
        f"<code>{code}</code>\n<msg>{msg}</msg>\n<{key}>{smsid}</{key}>\n</{root}>\n"
    ).encode()


def json_answer(code: int, msg: str, smsid: str = "0", key: str = "smsid") -> bytes:
    return f'{{"code":{code},"msg":"{msg}","{key}":"{smsid}"}}'.encode()


def assert_accepted(r, *, fmt: str = "xml", key: str = "smsid", note: object = "") -> str:
    """The answer is 提交成功 with a 20-digit id; every other byte is compared exactly. Returns the id."""
    import re

    assert r.status_code == 200, note
    if fmt == "json":
        assert r.headers["content-type"] == JSON_TYPE, note
        m = re.search(rb'"' + key.encode() + rb'":"(\d{20})"', r.content)
        assert m, (note, r.content.decode())
        assert r.content == json_answer(2, "提交成功", m.group(1).decode(), key), note
    else:
        assert r.headers["content-type"] == XML_TYPE, note
        m = re.search(rb"<" + key.encode() + rb">(\d{20})</", r.content)
        assert m, (note, r.content.decode())
        assert r.content == xml_answer(2, "提交成功", m.group(1).decode(), key), note
    return m.group(1).decode()
