"""CPU per push of the pusher's HTTP client alone: BENCH_CLIENT_N form POSTs (default 20,000), BENCH_PER_HOST (32)
at a time, on uvloop, against the keep-alive receiver of ``push_bench.py`` in its own process.

``python bench/push_client_bench.py [ours|aiohttp]`` — ``aiohttp`` runs the session the pusher used before
``workers.push_http`` (needs aiohttp installed; it is no longer a dependency). Prints one JSON object: the client's
process CPU time per push (µs, ``time.process_time``: this process only, so a busy machine matters less) and the
wall-clock rate.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from urllib.parse import urlencode

from push_bench import start_receiver  # beside this file

N = int(os.environ.get("BENCH_CLIENT_N", "20000"))
PER_HOST = int(os.environ.get("BENCH_PER_HOST", "32"))
FORM = {"content-type": "application/x-www-form-urlencoded"}
MAX_ANSWER = 64 * 1024


def _fields(i: int) -> dict[str, str]:
    return {"mobile": "13900000000", "smsid": f"9{i:019d}", "status": "DELIVRD", "msg": "用户接收成功", "time": "x"}


async def _ours(url: str, n: int) -> None:
    from hongyan.workers.push_http import PushClient

    client = PushClient(per_host=PER_HOST, timeout_s=10.0)
    await _run(lambda i: client.post(url, urlencode(_fields(i)).encode(), FORM), n)
    await client.close()


async def _aiohttp(url: str, n: int) -> None:
    import aiohttp  # the pusher's former client, used as it used it

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=PER_HOST, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(total=10.0),
        headers={"user-agent": "hongyan-push/1"},
        cookie_jar=aiohttp.DummyCookieJar(),
    )

    async def one(i: int) -> tuple[int, bytes]:
        data = urlencode(_fields(i)).encode()
        async with session.post(url, data=data, headers=FORM, allow_redirects=False) as resp:
            size = resp.content_length
            if size is not None and size <= MAX_ANSWER:
                return resp.status, await resp.read()
            answer = bytearray()
            async for chunk in resp.content.iter_chunked(8192):
                answer += chunk
                if len(answer) >= MAX_ANSWER:
                    break
            return resp.status, bytes(answer[:MAX_ANSWER])

    await _run(one, n)
    await session.close()


async def _run(post, n: int) -> None:
    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            status, answer = await post(i)
            assert status == 200 and answer == b"success", (status, answer)

    await asyncio.gather(*[worker() for _ in range(PER_HOST)])


async def main(kind: str, url: str) -> dict[str, object]:
    run = _ours if kind == "ours" else _aiohttp
    await run(url, 500)  # warm up: connections, imports
    cpu0, t0 = time.process_time(), time.perf_counter()
    await run(url, N)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return {"client": kind, "n": N, "per_host": PER_HOST, "cpu_us_per_push": round(cpu / N * 1e6, 1),
            "push_per_s": round(N / wall, 1)}  # fmt: skip


if __name__ == "__main__":
    from hongyan.loop import run

    kind = sys.argv[1] if len(sys.argv) > 1 else "ours"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    receiver = start_receiver(port)
    try:
        print(json.dumps(run(main(kind, f"http://127.0.0.1:{port}/receipt"))))
    finally:
        receiver.terminate()
        receiver.wait(10)
