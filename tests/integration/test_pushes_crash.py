"""Crash test: the push worker process (`hongyan worker push`) is killed with SIGKILL during a burst of 1,000
receipts and restarted. Every receipt reaches the receiver at least once; the only repeats are pushes the dead
worker held leased when it died (its in-flight window), and they are identical to the first copy."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hongyan.domain.pushes import receipt_fields
from hongyan.services import accounts as svc
from hongyan.store import outbox as outbox_store
from hongyan.store.accounts import get_account
from hongyan.store.clock import now_ms
from hongyan.store.tables import outbox
from hongyan.workers.pusher import PushPolicy
from tests.integration.test_pushes import Receiver

N = 1_000
LEASE_S = 2.0


@pytest.fixture
def receiver():
    r = Receiver()
    r.delay_s = 0.004  # a customer that takes a few ms per push: the burst lasts long enough to be interrupted
    r.start()
    yield r
    r.stop()


def _worker(settings, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "HONGYAN_DATABASE_URL": settings.database_url,
        "HONGYAN_VAR_DIR": str(settings.var_dir),
        "HONGYAN_SECRET_KEY": settings.secret_key.get_secret_value(),
        "HONGYAN_PUSH_LEASE_S": str(LEASE_S),
        "HONGYAN_PUSH_RETRY_BASE_S": "0.2",
        "HONGYAN_LOG_LEVEL": "warning",
    }
    code = "from hongyan.cli.main import app; app()"
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, "worker", "push"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def _until(predicate, what: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done = predicate()
        if asyncio.iscoroutine(done):
            done = await done
        if done:
            return
        assert proc is None or proc.poll() is None, f"worker exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


LEASE_BATCH = 500  # Pusher(batch=...) default


async def test_sigkill_during_a_burst_loses_no_receipt(platform, live, receiver, settings, tmp_path) -> None:
    await svc.set_fields(platform, live.account, receipt_url=receiver.url)
    smsids = [f"1795589872483{i:07d}" for i in range(N)]
    at = now_ms()
    async with platform.engines.write.begin() as conn:  # the outbox rows a burst of receipts writes
        account_id = (await get_account(conn, live.account)).id
        fields = [receipt_fields(mobile=f"139{i:08d}", smsid=s, stat="DELIVRD", at_ms=at) for i, s in enumerate(smsids)]
        await outbox_store.enqueue_events(
            conn, [outbox_store.Event(account_id, "receipt", s, f, at) for s, f in zip(smsids, fields, strict=True)]
        )

    async def count(*cond) -> int:
        async with platform.engines.read.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(outbox).where(*cond))).scalar_one()

    log = tmp_path / "worker.log"
    first = _worker(settings, log)
    try:
        await _until(lambda: receiver.received() >= 200, "the burst to start", first)
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    async with platform.engines.read.connect() as conn:
        held = {r.ref for r in await conn.execute(select(outbox.c.ref).where(outbox.c.lease_owner.is_not(None)))}
    assert await count(outbox.c.state == "delivered") < N, "the worker finished before it was killed"

    second = _worker(settings, log)
    try:
        await _until(lambda: _all_delivered(count), "all", second)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(20)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait(10)

    assert set(receiver.got) == set(smsids), "a receipt never reached the receiver"
    repeated = {s for s, pushes in receiver.got.items() if len(pushes) > 1}
    assert repeated <= held, "a push was repeated that the dead worker did not hold"
    # held at the kill: the host's backlog, plus at most one fresh lease not yet handed back by _admit
    assert sum(len(receiver.got[s]) - 1 for s in repeated) <= len(held) <= PushPolicy().host_backlog + LEASE_BATCH
    for s in repeated:  # a repeat is the same push: same smsid, same fields
        assert all(p == receiver.got[s][0] for p in receiver.got[s]) and receiver.got[s][0]["smsid"] == s
    assert await count(outbox.c.state != "delivered") == 0
    print(f"killed holding {len(held)} leased pushes; {len(repeated)} repeated at the receiver")


async def _all_delivered(count) -> bool:
    return await count(outbox.c.state == "delivered") == N
