"""Load generator and receipt receiver for the end-to-end bench.

httpx spends ~3 ms of client CPU per request, so a 64-connection httpx burst measured the client (≈300/s), not
hongyan. This module sends with a minimal HTTP/1.1 keep-alive client on asyncio streams, and the receipt receiver
runs in its own process so that it does not compete with the sender for the same event loop. Both stamp times with
``time.perf_counter`` (CLOCK_MONOTONIC: comparable across processes on one machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import re
import time
from urllib.parse import urlencode

CONTENT = "【鸿雁】您的验证码是：1234。请不要把验证码泄露给其他人。"
_SMSID = re.compile(rb"smsid=(\d+)")
_LENGTH = re.compile(rb"(?i)content-length:\s*(\d+)")


def _receiver_main(port: int, expected: int, ready, out_path: str, timeout_s: float) -> None:
    """Answer every push with ``success`` and, when ``expected`` receipts arrived (or on timeout), write
    ``{smsid: arrival}`` as JSON to ``out_path``."""

    async def run() -> None:
        pushed: dict[str, float] = {}
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    m = _LENGTH.search(head)
                    body = await reader.readexactly(int(m.group(1))) if m else b""
                    s = _SMSID.search(body)
                    if s:
                        pushed.setdefault(s.group(1).decode(), time.perf_counter())
                        if len(pushed) >= expected:
                            done.set()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsuccess")
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout_s)
        server.close()
        with open(out_path, "w") as fh:
            json.dump(pushed, fh)

    asyncio.run(run())


class Receiver:
    """The receipt receiver in a child process; ``result()`` waits for it and returns ``{smsid: arrival}``."""

    def __init__(self, port: int, expected: int, out_path: str, timeout_s: float = 180.0) -> None:
        ctx = mp.get_context("spawn")
        ready = ctx.Event()
        self.out_path = out_path
        self.proc = ctx.Process(target=_receiver_main, args=(port, expected, ready, out_path, timeout_s), daemon=True)
        self.proc.start()
        if not ready.wait(30):
            raise RuntimeError("receipt receiver did not start")

    def result(self, timeout_s: float) -> dict[str, float]:
        self.proc.join(timeout_s)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
            return {}
        with open(self.out_path) as fh:
            return json.load(fh)


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, path: str, body: bytes) -> bytes:
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body)
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        m = _LENGTH.search(head)
        return await self.reader.readexactly(int(m.group(1))) if m else b""


async def submit(
    port: int, account: str, apikey: str, n: int, *, connections: int = 64, rate: float | None = None, first: int = 0
) -> tuple[dict[str, float], float, float]:
    """Submit ``n`` messages (``rate`` per second when given, else as fast as ``connections`` allow).

    Returns ({smsid: send time}, start, end). Mobiles are 138xxxxxxxx from ``first`` on, so no limit trips.
    """
    conns = [_Conn(*await asyncio.open_connection("127.0.0.1", port)) for _ in range(connections)]
    sent: dict[str, float] = {}
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    path = "/webservice/sms.php?method=Submit&format=json"

    async def worker(conn: _Conn) -> None:
        while (i := await queue.get()) is not None:
            mobile = f"138{first + i:08d}"
            body = urlencode({"account": account, "password": apikey, "mobile": mobile, "content": CONTENT})
            t = time.perf_counter()
            answer = json.loads(await conn.post(path, body.encode()))
            if answer.get("code") != 2:
                raise RuntimeError(f"submit refused: {answer}")
            sent[answer["smsid"]] = t

    workers = [asyncio.create_task(worker(c)) for c in conns]
    t0 = time.perf_counter()
    if rate:
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(i)
    else:
        for i in range(n):
            queue.put_nowait(i)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    t1 = time.perf_counter()
    for c in conns:
        c.writer.close()
    return sent, t0, t1


def summarise(sent: dict[str, float], pushed: dict[str, float], t0: float) -> dict[str, float]:
    lat = sorted((pushed[s] - sent[s]) * 1000 for s in sent if s in pushed)
    end = max(pushed.values()) if pushed else t0
    return {
        "msgs_per_s": round(len(lat) / max(end - t0, 1e-9), 1),
        "p50_ms": round(lat[len(lat) // 2], 1) if lat else 0.0,
        "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)], 1) if lat else 0.0,
        "receipts": len(lat),
    }
