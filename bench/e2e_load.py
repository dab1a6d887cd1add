"""Load generator and receipt receiver for the end-to-end bench.

httpx spends ~3 ms of client CPU per request, so a 64-connection httpx burst measured the client (≈300/s), not
hongyan. This module sends with a minimal HTTP/1.1 keep-alive client, and the receipt receiver runs in its own
process so that it does not compete with the sender for the same event loop. Both are asyncio Protocols on uvloop:
on asyncio streams and the stdlib loop they took ~30 % of a core at 2,300 msg/s (client 79 µs a request, receiver
52 µs a push), CPU the 2-core machine then did not have for hongyan. Both stamp times with
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


class _ReceiverProtocol(asyncio.Protocol):
    """One pushing connection: every complete request is answered ``success`` (pipelined requests too), and the
    first arrival of each smsid is stamped."""

    def __init__(self, pushed: dict[str, float], expected: int, done: asyncio.Event) -> None:
        self.pushed, self.expected, self.done = pushed, expected, done
        self.buf = b""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        answers = 0
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            m = _LENGTH.search(buf, 0, end + 2)
            size = int(m.group(1)) if m else 0
            if len(buf) < end + 4 + size:
                break
            body = buf[end + 4 : end + 4 + size]
            buf = buf[end + 4 + size :]
            s = _SMSID.search(body)
            if s:
                self.pushed.setdefault(s.group(1).decode(), time.perf_counter())
            answers += 1
        self.buf = buf
        if answers:
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsuccess" * answers)
            if len(self.pushed) >= self.expected:
                self.done.set()


def _receiver_main(port: int, expected: int, ready, out_path: str, timeout_s: float) -> None:
    """Answer every push with ``success`` and, when ``expected`` receipts arrived (or on timeout), write
    ``{smsid: arrival}`` as JSON to ``out_path``."""

    async def run() -> None:
        pushed: dict[str, float] = {}
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _ReceiverProtocol(pushed, expected, done), "127.0.0.1", port, backlog=1024
        )
        ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout_s)
        server.close()
        with open(out_path, "w") as fh:
            json.dump(pushed, fh)

    run_loop(run())


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


class _Client(asyncio.Protocol):
    """One keep-alive connection sending one request at a time (as an application's HTTP client does)."""

    def __init__(self) -> None:
        self.buf = b""
        self.answer: asyncio.Future[bytes] | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            m = _LENGTH.search(buf, 0, end + 2)
            size = int(m.group(1)) if m else 0
            if len(buf) >= end + 4 + size:
                self.buf = buf[end + 4 + size :]
                if self.answer is not None and not self.answer.done():
                    self.answer.set_result(buf[end + 4 : end + 4 + size])
                return
        self.buf = buf

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError("connection closed"))

    def post(self, head: bytes, body: bytes) -> asyncio.Future[bytes]:
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(head % len(body) + body)
        return self.answer


async def submit(
    port: int, account: str, apikey: str, n: int, *, connections: int = 64, rate: float | None = None, first: int = 0
) -> tuple[dict[str, float], float, float]:
    """Submit ``n`` messages (``rate`` per second when given, else as fast as ``connections`` allow).

    Returns ({smsid: send time}, start, end). Mobiles are 138xxxxxxxx from ``first`` on, so no limit trips.
    """
    loop = asyncio.get_running_loop()
    conns = [(await loop.create_connection(_Client, "127.0.0.1", port))[1] for _ in range(connections)]
    sent: dict[str, float] = {}
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    head = (
        b"POST /webservice/sms.php?method=Submit&format=json HTTP/1.1\r\nHost: bench\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n"
    )
    prefix = urlencode({"account": account, "password": apikey, "content": CONTENT}).encode()

    async def worker(conn: _Client) -> None:
        while (i := await queue.get()) is not None:
            body = b"%s&mobile=138%08d" % (prefix, first + i)
            t = time.perf_counter()
            answer = json.loads(await conn.post(head, body))
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
        c.transport.close()
    return sent, t0, t1


def run_loop(main):
    """``asyncio.run`` on uvloop (as hongyan's own processes run), so the load costs this 2-core machine less."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def summarise(sent: dict[str, float], pushed: dict[str, float], t0: float) -> dict[str, float]:
    lat = sorted((pushed[s] - sent[s]) * 1000 for s in sent if s in pushed)
    end = max(pushed.values()) if pushed else t0
    return {
        "msgs_per_s": round(len(lat) / max(end - t0, 1e-9), 1),
        "p50_ms": round(lat[len(lat) // 2], 1) if lat else 0.0,
        "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)], 1) if lat else 0.0,
        "receipts": len(lat),
    }
