"""Metrics of final states, DLR latency and low balances; channel status heartbeats (store, runtime over a real
SMPP simulator, /readyz and the admin channels page without delivery in the process)."""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import pytest

from hongyan.api.app import create_app
from hongyan.channels.base import InReceipt
from hongyan.domain.states import MessageState as S
from hongyan.metrics import REGISTRY
from hongyan.pipeline.context import SubmitRequest
from hongyan.services import accounts as account_service
from hongyan.services import channels as channel_service
from hongyan.services import console_users
from hongyan.services.platform import Platform
from hongyan.services.submit import submit
from hongyan.simulator import Simulator
from hongyan.store import channel_status, delivery
from hongyan.store.clock import now_ms
from hongyan.store.messages import crossed_below
from hongyan.workers.receipts import ReceiptIntake, ReceiptSweeper
from hongyan.workers.runtime import DeliveryRuntime
from tests.conftest import SIGNATURE


@pytest.fixture
def database_url(database_url: str, migrated_sqlite) -> str:
    return migrated_sqlite(database_url)


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def _finals() -> dict[str, float]:
    return {s: _sample("hongyan_messages_final_total", {"state": s}) for s in ("delivered", "undelivered", "expired")}


async def _send(platform, creds, n: int) -> list[str]:
    out = []
    for i in range(n):
        r = await submit(
            platform,
            SubmitRequest(
                account=creds.account,
                password=creds.apikey,
                mobile=f"1380013{i:04d}",
                content=f"【{SIGNATURE}】您好{i}",
            ),
        )
        assert r.code == 2, r
        out.append(r.smsid)
    return out


async def _submitted(platform, smsids: list[str], *, ids: list[str] | None = None) -> list[delivery.Finished]:
    """Lease and record the submits (carrier id ``c<smsid>`` unless given); returns what early receipts finished."""
    engine = platform.engines.write
    await delivery.lease_due(engine, owner="T", limit=100, lease_ms=30_000, skip_locked=False)
    ids = ids or [f"c{s}" for s in smsids]
    early: list[delivery.Finished] = []
    await delivery.record_submitted(
        engine, "T", [delivery.Submitted(s, "sim", (cid,)) for s, cid in zip(smsids, ids, strict=True)], finished=early
    )
    return early


async def test_final_states_and_dlr_latency_counted_after_commit(platform, live) -> None:
    smsids = await _send(platform, live, 4)
    await _submitted(platform, smsids[:3])
    before, latency_n = _finals(), _sample("hongyan_dlr_latency_seconds_count")
    intake = ReceiptIntake(platform.engines.write)
    await intake.start()
    try:
        await intake.on_receipt("sim", InReceipt(f"c{smsids[0]}", "DELIVRD"))
        await intake.on_receipt("sim", InReceipt(f"c{smsids[1]}", "UNDELIV"))
        await intake.on_receipt("sim", InReceipt(f"c{smsids[0]}", "DELIVRD"))  # a repeat changes nothing
    finally:
        await intake.stop()
    after = _finals()
    assert after["delivered"] - before["delivered"] == 1
    assert after["undelivered"] - before["undelivered"] == 1
    assert _sample("hongyan_dlr_latency_seconds_count") - latency_n == 2
    # The sweeper's expiries are final states too, but no receipt came: no latency observed.
    sweeper = ReceiptSweeper(
        platform.engines.write, timeout_s=0.0, skip_locked=not platform.engines.is_sqlite, clock=lambda: now_ms() + 5
    )
    assert await sweeper.sweep() == 1
    assert _finals()["expired"] - before["expired"] == 1
    assert _sample("hongyan_dlr_latency_seconds_count") - latency_n == 2
    # The /metrics text carries both.
    async with _client(platform) as c:
        text = (await c.get("/metrics")).text
    assert 'hongyan_messages_final_total{state="delivered"}' in text
    assert 'hongyan_dlr_latency_seconds_bucket{le="300.0"}' in text and 'le="0.05"' in text


async def test_receipts_before_the_submit_are_returned_for_counting(platform, live) -> None:
    smsids = await _send(platform, live, 2)
    # Both receipts come before their submits are recorded: kept in pending_receipts.
    assert await delivery.apply_receipts(platform.engines.write, [delivery.ReceiptIn("sim", "e1", "DELIVRD")]) == []
    # One is applied by the submit's own transaction ...
    early = await _submitted(platform, smsids[:1], ids=["e1"])
    assert [(f.smsid, f.state) for f in early] == [(smsids[0], S.DELIVERED)]
    assert early[0].receipt_latency_s is not None and early[0].receipt_latency_s >= 0
    # ... the other by the reconciler (its submit recorded while the receipt was not visible yet).
    await _submitted(platform, smsids[1:], ids=["e2"])
    await _keep_pending(platform, delivery.ReceiptIn("sim", "e2", "UNDELIV"))
    finished: list[delivery.Finished] = []
    assert await delivery.reconcile_pending(platform.engines.write, finished=finished) == 1
    assert [(f.smsid, f.state) for f in finished] == [(smsids[1], S.UNDELIVERED)]


async def _keep_pending(platform, r: delivery.ReceiptIn) -> None:
    from sqlalchemy import insert

    from hongyan.store.tables import pending_receipts

    async with platform.engines.write.begin() as conn:
        await conn.execute(
            insert(pending_receipts).values(
                channel=r.channel, carrier_msg_id=r.carrier_msg_id, stat=r.stat, received_at=now_ms()
            )
        )


def test_crossed_below_reports_each_crossing_once() -> None:
    assert crossed_below({1: 120, 2: 90, 3: 100}, {1: 30, 2: 5, 3: 1}, 100) == {1: 90, 3: 99}
    assert crossed_below({1: 120}, {1: 20}, 100) == {}  # 100 is not below 100
    assert crossed_below({1: 120}, {1: 30}, 0) == {}  # off


async def test_balance_low_warns_once_per_crossing(settings, caplog) -> None:
    settings.balance_low_segments = 100
    p = await Platform.open(settings)
    try:
        creds = await account_service.create_account(p, "low-co", balance=103, live=True)
        await account_service.add_signature(p, creds.account, SIGNATURE, approve=True)
        start = _sample("hongyan_balance_low_total")
        with caplog.at_level(logging.WARNING, logger="hongyan.store.messages"):
            await _send(p, creds, 2)  # 101: still above
            assert _sample("hongyan_balance_low_total") == start
            await asyncio.gather(_send(p, creds, 3), _send(p, creds, 3))  # 95: crossed, however batched
            await _send(p, creds, 2)  # 93: already below, not again
            assert _sample("hongyan_balance_low_total") - start == 1
            await account_service.topup(p, creds.account, 50)  # 143
            await _send(p, creds, 50)  # 93: a second crossing
        assert _sample("hongyan_balance_low_total") - start == 2
        warnings = [r for r in caplog.records if r.getMessage() == "balance low"]
        assert len(warnings) == 2 and all(r.threshold == 100 and 90 <= r.balance < 100 for r in warnings)
        assert len({r.account_id for r in warnings}) == 1
    finally:
        await p.close()


async def test_heartbeats_summed_per_channel_and_stale_ones_unknown(platform) -> None:
    engine, now = platform.engines.write, now_ms()
    hb = channel_status.Heartbeat
    await channel_status.beat(engine, "n1", [hb("a", True, 3, 50, 10.0, False), hb("b", False, 0, 20, 0, False)], now)
    await channel_status.beat(engine, "n2", [hb("a", True, 2, 50, 5.5, True)], now)
    await channel_status.beat(engine, "old", [hb("c", True, 0, 10, 0, False)], now - 60_000)
    async with platform.engines.read.connect() as conn:
        live = await channel_status.fresh(conn, max_age_ms=6_000, now=now)
    assert set(live) == {"a", "b"}  # c's report is stale: unknown
    a = live["a"]
    assert (a.bound, a.inflight, a.window, a.tps, a.throttled, a.nodes) == (True, 5, 100, 15.5, False, 2)
    assert live["b"].bound is False and live["b"].available is False and live["b"].window == 0
    # n1 now runs only b (a stopped there): its row for a goes; an upsert replaces, never duplicates.
    await channel_status.beat(engine, "n1", [hb("b", True, 1, 20, 1.0, True)], now + 1)
    await channel_status.forget(engine, "n2")
    async with platform.engines.read.connect() as conn:
        live = await channel_status.fresh(conn, max_age_ms=6_000, now=now + 1)
    assert set(live) == {"b"} and live["b"].bound and live["b"].throttled and not live["b"].available


def _client(platform) -> httpx.AsyncClient:
    app = create_app(platform.settings, platform=platform)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 40000)), base_url="http://t")


async def test_runtime_heartbeat_feeds_readyz_and_console_without_delivery_here(platform) -> None:
    sim = Simulator("127.0.0.1", 0, "hbtest", "pw", dlr_delay_s=0.01, seed=3)
    await sim.start()
    platform.settings.channel_heartbeat_s = 0.05
    async with _client(platform) as c:
        r = await c.get("/readyz")  # no channel configured: nothing to wait for
        assert r.status_code == 200 and r.json()["channels"] == "none configured"
        await channel_service.add_channel(
            platform, "sim", f"127.0.0.1:{sim.port}", password="pw", system_id="hbtest", window=7
        )
        r = await c.get("/readyz")  # configured, but no delivery process reports it bound
        assert r.status_code == 503 and r.json()["channels"].startswith("error")
        # A delivery runtime (as `hongyan worker dispatch` runs it) binds the channel and reports it.
        runtime = DeliveryRuntime(platform, reload_s=0.05)
        await runtime.start()
        try:
            await _until(lambda: runtime.statuses().get("sim") is not None and runtime.statuses()["sim"].bound)
            st = runtime.statuses()["sim"]
            assert st.window == 7 and st.inflight == 0 and not st.throttled
            await _until_async(lambda: _ready(c))
            platform.settings.channel_heartbeat_s = 60.0  # readers' staleness bound only: no timing in the checks
            assert (await c.get("/readyz")).json()["channels"] == "1 bound"
            async with platform.engines.read.connect() as conn:
                live = await channel_status.fresh(conn, max_age_ms=60_000, now=now_ms())
            assert live["sim"].bound and live["sim"].window == 7 and live["sim"].nodes == 1
            # The admin channels page reads the same heartbeats.
            await console_users.add_user(platform, "ops", "s3cret-pass-123", operator=True)
            await _login(c, "ops", "s3cret-pass-123")
            page = (await c.get("/console/admin/channels")).text
            row = re.search(r'data-channel="sim">(.*?)</tr>', page, re.S).group(1)
            assert "已绑定" in row and "0 / 7" in row
        finally:
            await runtime.stop()
            await sim.stop()
        # A stopped runtime takes its rows with it: unknown, and not ready.
        async with platform.engines.read.connect() as conn:
            assert await channel_status.fresh(conn, max_age_ms=60_000, now=now_ms()) == {}
        assert (await c.get("/readyz")).status_code == 503
        page = (await c.get("/console/admin/channels")).text
        assert "未知" in re.search(r'data-channel="sim">(.*?)</tr>', page, re.S).group(1)
    # The channel check can be switched off (an API process whose readiness should not follow the carriers).
    platform.settings.readyz_require_channel = False
    async with _client(platform) as c:
        r = await c.get("/readyz")
        assert r.status_code == 200 and "channels" not in r.json()


async def _ready(c: httpx.AsyncClient) -> bool:
    return (await c.get("/readyz")).status_code == 200


async def _until(condition, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def _until_async(condition, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _login(c: httpx.AsyncClient, username: str, password: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', (await c.get("/console/login")).text).group(1)
    r = await c.post("/console/login", data={"username": username, "password": password, "csrf_token": token})
    assert r.status_code == 303, r.text
