"""Push throughput and DLR-arrival → push latency, against a local HTTP receiver in its own process.

1. ``push_per_s``: BENCH_PUSH_N receipt pushes (default 20,000: 5,000 were over in about a second) are written to
   the outbox at once; a pusher with the default policy (32 concurrent pushes per host — one receiver is one
   host — and a backlog of 512 leased rows per host; BENCH_PER_HOST changes the first) delivers them; the figure
   is pushes recorded as delivered per second (the pusher's own count, taken after each commit), from the
   pusher's start to the last one; ``push_cpu_us`` is the CPU time of the pusher's process (all its threads: the
   pusher, the SQLite thread) per push over the same span, a figure that depends less on the machine's load.
2. ``dlr_to_push_*``: BENCH_DLR_N messages (default 1,000) are put in the `submitted` state with carrier ids;
   their receipts are handed to the receipt intake (``workers.receipts``, as a channel does) at BENCH_DLR_RATE a
   second (default 250, well under the push capacity, so the figure is latency rather than queueing) while the
   pusher runs in the same process (as ``serve`` embeds it). Latency = receiver arrival − intake call, on the
   system-wide monotonic clock; p50/p99 in ms.

SQLite in a temporary directory unless BENCH_DATABASE_URL is set (e.g. postgresql+asyncpg://postgres@127.0.0.1/db,
which must exist; its tables are created and the database is left migrated). Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs

PUSH_N = int(os.environ.get("BENCH_PUSH_N", "20000"))
DLR_N = int(os.environ.get("BENCH_DLR_N", "1000"))
DLR_RATE = float(os.environ.get("BENCH_DLR_RATE", "250"))
PER_HOST = int(os.environ.get("BENCH_PER_HOST", "32"))  # the default HONGYAN_PUSH_PER_HOST


# --- the receiver (a separate process: a minimal keep-alive HTTP/1.1 server) -----------------------------

_OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\nsuccess"


async def _serve_receiver(port: int) -> None:
    arrivals: dict[str, int] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if head.startswith(b"GET /stats"):
                    data = json.dumps(arrivals).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(data), data))
                    arrivals.clear()
                else:
                    smsid = parse_qs(body.decode())["smsid"][0]
                    arrivals.setdefault(smsid, time.monotonic_ns())
                    writer.write(_OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_receiver(port: int) -> subprocess.Popen:
    """The receiver (this file with ``--receiver PORT``) in a process of its own, once it takes connections."""
    proc = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.01)
    return proc


async def _arrivals(port: int) -> dict[str, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stats HTTP/1.1\r\nhost: x\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    data = json.loads(await reader.readexactly(length))
    writer.close()
    return data


# --- the measurements ------------------------------------------------------------------------------------


def _policy():
    from hongyan.workers.pusher import PushPolicy

    return PushPolicy(per_host=PER_HOST, host_backlog=max(PushPolicy.host_backlog, PER_HOST * 16))


async def _delivered(platform) -> int:
    from sqlalchemy import func, select

    from hongyan.store.tables import outbox

    async with platform.engines.read.connect() as conn:
        q = select(func.count()).select_from(outbox).where(outbox.c.state == "delivered")
        return (await conn.execute(q)).scalar_one()


async def _throughput(platform, account_id: int) -> tuple[float, float]:
    from hongyan.domain.pushes import receipt_fields
    from hongyan.store import outbox
    from hongyan.store.clock import now_ms
    from hongyan.workers.pusher import Pusher

    at = now_ms()
    events = [
        outbox.Event(
            account_id, "receipt", s, receipt_fields(mobile="13900000000", smsid=s, stat="DELIVRD", at_ms=at), at
        )
        for s in (f"9{i:019d}" for i in range(PUSH_N))
    ]
    async with platform.engines.write.begin() as conn:
        for i in range(0, len(events), 1000):
            await outbox.enqueue_events(conn, events[i : i + 1000])
    pusher = Pusher(platform.engines.write, skip_locked=not platform.engines.is_sqlite, policy=_policy())
    t0, cpu0 = time.perf_counter(), time.process_time()
    await pusher.start()
    while pusher.stats.delivered < PUSH_N:  # counted after each commit; polling the database cost the pusher CPU
        await asyncio.sleep(0.01)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await pusher.stop()
    assert await _delivered(platform) == PUSH_N
    return PUSH_N / elapsed, cpu / PUSH_N * 1e6


async def _latency(platform, creds, port: int) -> list[float]:
    from hongyan.channels.base import InReceipt
    from hongyan.pipeline.context import SubmitRequest
    from hongyan.services.submit import submit
    from hongyan.store import delivery
    from hongyan.workers.pusher import Pusher
    from hongyan.workers.receipts import ReceiptIntake

    outs = await asyncio.gather(
        *[
            submit(
                platform,
                SubmitRequest(
                    account=creds.account,
                    password=creds.apikey,
                    mobile=f"1390000{i % 10_000:04d}",
                    content=f"【鸿雁科技】您的订单{i}已发货",
                ),
            )
            for i in range(DLR_N)
        ]
    )
    smsids = [o.smsid for o in outs if o.code == 2]
    assert len(smsids) == DLR_N, {o.code for o in outs}
    owner, skip = "bench", not platform.engines.is_sqlite
    due = await delivery.lease_due(platform.engines.write, owner=owner, limit=DLR_N, lease_ms=600_000, skip_locked=skip)
    done = [delivery.Submitted(d.smsid, "bench", (f"b{i:015d}",)) for i, d in enumerate(due)]
    await delivery.record_submitted(platform.engines.write, owner, done)
    await _arrivals(port)  # forget phase 1

    intake = ReceiptIntake(platform.engines.write)
    await intake.start()
    pusher = Pusher(platform.engines.write, skip_locked=skip, policy=_policy())
    await pusher.start()
    sent: dict[str, int] = {}
    start = time.perf_counter()

    async def one(i: int, d: delivery.Submitted) -> None:
        await asyncio.sleep(max(0.0, start + i / DLR_RATE - time.perf_counter()))
        sent[d.smsid] = time.monotonic_ns()
        await intake.on_receipt("bench", InReceipt(d.carrier_ids[0], "DELIVRD", None, None))

    await asyncio.gather(*[one(i, d) for i, d in enumerate(done)])
    deadline = time.monotonic() + 120
    while pusher.stats.delivered < DLR_N and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await pusher.stop()
    await intake.stop()
    arrived = await _arrivals(port)
    missing = set(sent) - set(arrived)
    assert not missing, f"{len(missing)} receipts not pushed"
    return [(arrived[s] - t) / 1e6 for s, t in sent.items()]


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


async def main() -> dict[str, object]:
    from hongyan.services import accounts as svc
    from hongyan.services.platform import Platform
    from hongyan.settings import Settings
    from hongyan.store.accounts import get_account

    tmp = Path(tempfile.mkdtemp(prefix="hongyan-push-bench-"))
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp}/bench.db"
    port = _free_port()
    receiver = start_receiver(port)  # nothing else runs on the loop yet: waiting for it here blocks nothing
    try:
        settings = Settings(
            database_url=url,
            var_dir=tmp,
            secret_key="bench",
            _env_file=None,
            limit_per_second=1_000_000,
            limit_daily=1_000_000,
            limit_daily_codes=1_000_000,
            limit_daily_ceiling=10_000_000,
        )
        platform = await Platform.open(settings)
        try:
            creds = await svc.create_account(platform, "bench", balance=DLR_N * 2, live=True)
            await svc.add_signature(platform, creds.account, "鸿雁科技", approve=True)
            await svc.set_fields(platform, creds.account, receipt_url=f"http://127.0.0.1:{port}/receipt")
            async with platform.engines.read.connect() as conn:
                account_id = (await get_account(conn, creds.account)).id
            per_s, cpu_us = await _throughput(platform, account_id)
            lat = await _latency(platform, creds, port)
        finally:
            await platform.close()
    finally:
        receiver.terminate()
        receiver.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "push_n": PUSH_N,
        "per_host": PER_HOST,
        "push_per_s": round(per_s, 1),
        "push_cpu_us": round(cpu_us, 1),
        "dlr_n": DLR_N,
        "dlr_rate_per_s": DLR_RATE,
        "dlr_to_push_p50_ms": round(_p(lat, 0.5), 1),
        "dlr_to_push_p99_ms": round(_p(lat, 0.99), 1),
        "dlr_to_push_max_ms": round(max(lat), 1),
    }


if __name__ == "__main__":
    from hongyan.loop import run  # uvloop, as `hongyan worker push` and `serve` run

    if len(sys.argv) == 3 and sys.argv[1] == "--receiver":
        run(_serve_receiver(int(sys.argv[2])))
    else:
        print(json.dumps(run(main())))
