"""Delivery only: N accepted messages → dispatcher → SMPP → simulator (own process, DLR after 10 ms) → receipts applied,
in one process on SQLite (or ``BENCH_DATABASE_URL``), no HTTP and no pushes.

Prints one JSON object: messages finished per second (wall clock, from the runtime's start to the last final state)
and this process's CPU per message (user + system, less sensitive to the load of a shared machine than the rate).

    .venv/bin/python bench/delivery_bench.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from hongyan.services import accounts as account_service
from hongyan.services import channels as channel_svc
from hongyan.services.platform import Platform
from hongyan.settings import Settings
from hongyan.store.accounts import get_account
from hongyan.store.messages import NewMessage
from hongyan.store.tables import messages
from hongyan.workers.runtime import DeliveryRuntime

FINAL = ("delivered", "undelivered", "expired", "rejected", "failed")


def _simulator() -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "hongyan.simulator", "--port", "0", "--control-port", "-1"]
    cmd += ["--system-id", "bench", "--password", "bench", "--dlr-delay", "0.01", "--window", "200"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(json.loads(proc.stdout.readline())["port"])


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run(n: int, url: str, tmp: Path) -> dict[str, float]:
    settings = Settings(database_url=url, var_dir=tmp, secret_key="bench", _env_file=None, log_level="warning")
    platform = await Platform.open(settings)
    sim, port = _simulator()
    try:
        creds = await account_service.create_account(platform, "bench", balance=10 * n, live=True)
        await channel_svc.add_channel(
            platform, "sim", f"127.0.0.1:{port}", password="bench", system_id="bench", window=200, tps=50000
        )
        async with platform.engines.read.connect() as conn:
            account_id = (await get_account(conn, creds.account)).id
        content = "【鸿雁】您的验证码是：1234。请不要把验证码泄露给其他人。"

        def message(i: int) -> NewMessage:
            return NewMessage(platform.smsids.next(), account_id, f"1380000{i:04d}", "mobile", content, "鸿雁", None, 1)

        await asyncio.gather(*(platform.writer.write(message(i)) for i in range(n)))
        runtime = DeliveryRuntime(platform)
        cpu0, t0 = _cpu_s(), time.perf_counter()
        await runtime.start()
        done = 0
        while done < n and time.perf_counter() - t0 < 300:
            await asyncio.sleep(0.05)
            async with platform.engines.read.connect() as conn:
                done = (
                    await conn.execute(select(func.count()).select_from(messages).where(messages.c.state.in_(FINAL)))
                ).scalar_one()
        wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
        await runtime.stop()
    finally:
        sim.terminate()
        sim.wait(10)
        await platform.close()
    return {
        "delivery_messages": done,
        "delivery_msgs_per_s": round(done / wall, 1),
        "delivery_cpu_ms_per_msg": round(cpu * 1000 / max(done, 1), 3),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hongyan-delivery-") as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp}/delivery.db"
        print(json.dumps(asyncio.run(run(args.messages, url, Path(tmp)))))


if __name__ == "__main__":
    main()
