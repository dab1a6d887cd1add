"""Dispatcher + router + receipt intake against in-test channels (the SMPP channel has its own tests)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

from sqlalchemy import select

from hongyan.channels.base import InReceipt, OutMessage, Permanent, Transient
from hongyan.domain.retry import RetryPolicy
from hongyan.pipeline.context import SubmitRequest
from hongyan.services.submit import submit
from hongyan.store.accounts import get_account, ledger_sum
from hongyan.store.tables import messages
from hongyan.workers.dispatcher import Dispatcher
from hongyan.workers.receipts import ReceiptIntake
from hongyan.workers.routing import Route, Router
from tests.conftest import SIGNATURE

_ids = itertools.count(1)


class FakeCarrier:
    """Acknowledges submits with ids and reports each through the intake, like an SMSC would."""

    def __init__(self, name: str, *, stat: str = "DELIVRD", fail: type[Exception] | None = None) -> None:
        self.name = name
        self.stat = stat
        self.fail = fail
        self.available = True
        self.sent: Counter[str] = Counter()
        self._sink = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self, on_receipt, on_reply) -> None:
        self._sink = on_receipt

    async def submit(self, msg: OutMessage) -> tuple[str, ...]:
        if self.fail is Transient:
            raise Transient("connection lost")
        if self.fail is Permanent:
            raise Permanent("ESME_RINVDSTADR", "REJECTD")
        self.sent[msg.smsid] += 1
        cid = f"{self.name}-{next(_ids)}"
        task = asyncio.create_task(self._sink(self.name, InReceipt(cid, self.stat)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return (cid,)

    async def stop(self) -> None:
        await asyncio.gather(*self._tasks)


async def _send_many(platform, creds, n: int) -> list[str]:
    outs = await asyncio.gather(
        *[
            submit(
                platform,
                SubmitRequest(
                    account=creds.account,
                    password=creds.apikey,
                    mobile=f"1390000{i:04d}",
                    content=f"【{SIGNATURE}】您的订单{i}已发货",
                ),
            )
            for i in range(n)
        ]
    )
    assert all(o.code == 2 for o in outs)
    return [o.smsid for o in outs]


async def _wait_states(platform, smsids, want: set[str], timeout: float = 20) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        async with platform.engines.read.connect() as conn:
            states = {
                r.smsid: r.state
                for r in await conn.execute(
                    select(messages.c.smsid, messages.c.state).where(messages.c.smsid.in_(smsids))
                )
            }
        if all(s in want for s in states.values()) or time.monotonic() > deadline:
            return states
        await asyncio.sleep(0.02)


async def _run(platform, routes, retry=None):
    intake = ReceiptIntake(platform.engines.write)
    await intake.start()
    for r in routes:
        await r.channel.start(intake.on_receipt, intake.on_reply)
    d = Dispatcher(
        platform.engines.write,
        Router(routes),
        skip_locked=not platform.engines.is_sqlite,
        retry=retry,
        flush_s=0.005,
        poll_s=0.01,
    )
    await d.start()
    return d, intake


async def _stop(d, intake, routes):
    await d.stop()
    for r in routes:
        await r.channel.stop()
    await intake.stop()


async def _ledger_ok(platform, creds) -> int:
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, creds.account)
        assert row.balance == await ledger_sum(conn, row.id)
        return row.balance


async def test_every_message_delivered_once(platform, live) -> None:
    primary = FakeCarrier("p")
    routes = [Route(primary, frozenset({"mobile"}))]
    d, intake = await _run(platform, routes)
    smsids = await _send_many(platform, live, 300)
    states = await _wait_states(platform, smsids, {"delivered"})
    await _stop(d, intake, routes)
    assert set(states.values()) == {"delivered"} and len(states) == 300
    assert set(primary.sent) == set(smsids) and set(primary.sent.values()) == {1}


async def test_failover_to_backup_after_failed_submit(platform, live) -> None:
    primary, backup = FakeCarrier("p", fail=Transient), FakeCarrier("b")
    routes = [Route(primary, frozenset({"mobile"})), Route(backup, frozenset({"mobile"}), priority="backup")]
    d, intake = await _run(platform, routes)
    smsids = await _send_many(platform, live, 50)
    states = await _wait_states(platform, smsids, {"delivered"})
    await _stop(d, intake, routes)
    assert set(states.values()) == {"delivered"}
    assert sum(backup.sent.values()) == 50 and d.stats.failovers == 50


async def test_unavailable_primary_is_skipped(platform, live) -> None:
    primary, backup = FakeCarrier("p"), FakeCarrier("b")
    primary.available = False
    routes = [Route(primary, frozenset({"mobile"})), Route(backup, frozenset({"mobile"}), priority="backup")]
    d, intake = await _run(platform, routes)
    smsids = await _send_many(platform, live, 20)
    await _wait_states(platform, smsids, {"delivered"})
    await _stop(d, intake, routes)
    assert not primary.sent and sum(backup.sent.values()) == 20


async def test_rejections_and_carrier_failures_are_refunded(platform, live) -> None:
    before = await _ledger_ok(platform, live)
    refusing = FakeCarrier("p", fail=Permanent)
    routes = [Route(refusing, frozenset({"mobile"}))]
    d, intake = await _run(platform, routes)
    smsids = await _send_many(platform, live, 10)
    states = await _wait_states(platform, smsids, {"rejected"})
    await _stop(d, intake, routes)
    assert set(states.values()) == {"rejected"}
    assert await _ledger_ok(platform, live) == before

    undeliv = FakeCarrier("u", stat="UNDELIV")
    routes = [Route(undeliv, frozenset({"mobile"}))]
    d, intake = await _run(platform, routes)
    smsids = await _send_many(platform, live, 10)
    states = await _wait_states(platform, smsids, {"undelivered"})
    await _stop(d, intake, routes)
    assert set(states.values()) == {"undelivered"}
    assert await _ledger_ok(platform, live) == before


async def test_no_channel_retries_then_fails_with_refund(platform, live) -> None:
    before = await _ledger_ok(platform, live)
    down = FakeCarrier("p")
    down.available = False
    routes = [Route(down, frozenset({"mobile"}))]
    d, intake = await _run(platform, routes, retry=RetryPolicy(schedule_s=(0.01,), max_attempts=3, jitter=0))
    smsids = await _send_many(platform, live, 5)
    states = await _wait_states(platform, smsids, {"failed"})
    await _stop(d, intake, routes)
    assert set(states.values()) == {"failed"} and d.stats.retried >= 10
    assert await _ledger_ok(platform, live) == before


def test_router_falls_back_to_a_throttled_channel_only_when_none_is_available() -> None:
    primary, backup = FakeCarrier("p"), FakeCarrier("b")
    router = Router([Route(primary, frozenset({"mobile"})), Route(backup, frozenset({"mobile"}), "backup")])
    assert router.pick("mobile") is primary and router.available_elsewhere("mobile", exclude=frozenset({"p"}))
    primary.available = False  # throttled past the bound, still bound
    primary.connected = True
    assert router.pick("mobile") is backup
    backup.available = False  # the backup is down too: a throttled channel beats the retry schedule
    assert router.pick("mobile") is primary
    assert not router.available_elsewhere("mobile", exclude=frozenset({"p"}))
    primary.connected = False
    assert router.pick("mobile") is None


class HoldingCarrier(FakeCarrier):
    """Keeps every submit waiting until ``release`` is set: the messages stay in flight."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.release = asyncio.Event()
        self.waiting = 0

    async def submit(self, msg: OutMessage) -> tuple[str, ...]:
        self.waiting += 1
        await self.release.wait()
        return await super().submit(msg)


async def test_leases_of_messages_in_flight_are_renewed_and_due_again_only_when_they_end(platform, live) -> None:
    carrier = HoldingCarrier("h")
    routes = [Route(carrier, frozenset({"mobile"}))]
    intake = ReceiptIntake(platform.engines.write)
    await intake.start()
    await carrier.start(intake.on_receipt, intake.on_reply)
    d = Dispatcher(
        platform.engines.write,
        Router(routes),
        skip_locked=not platform.engines.is_sqlite,
        lease_ms=3_000,  # renewed every second
        poll_s=0.01,
    )
    await d.start()
    try:
        smsids = await _send_many(platform, live, 3)
        deadline = time.monotonic() + 10
        while carrier.waiting < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert carrier.waiting == 3
        async with platform.engines.read.connect() as conn:
            first = {r.smsid: r for r in await conn.execute(select(messages).where(messages.c.smsid.in_(smsids)))}
        await asyncio.sleep(1.6)  # past the renewal interval
        async with platform.engines.read.connect() as conn:
            later = {r.smsid: r for r in await conn.execute(select(messages).where(messages.c.smsid.in_(smsids)))}
        for s in smsids:
            assert later[s].state == "queued" and later[s].lease_owner == d.owner
            assert later[s].lease_expires_at > first[s].lease_expires_at  # renewed
            assert later[s].next_attempt_at == later[s].lease_expires_at  # not due while it is held
        assert carrier.waiting == 3  # nobody leased them again
    finally:
        carrier.release.set()
        await _wait_states(platform, smsids, {"delivered"})
        await _stop(d, intake, routes)
