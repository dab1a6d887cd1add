"""End to end over real SMPP sockets: API → store → dispatcher → SMPP channel → simulator → DLR → state →
ledger, with two simulators as primary and backup."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from hongyan.services import channels as channel_svc
from hongyan.simulator import Simulator
from hongyan.store.accounts import get_account, ledger_sum
from hongyan.store.delivery import INTERRUPTED
from hongyan.store.tables import ledger, message_events, messages
from hongyan.workers.runtime import DeliveryRuntime
from tests.conftest import SIGNATURE


async def _states(platform) -> dict[str, int]:
    async with platform.engines.read.connect() as conn:
        rows = await conn.execute(select(messages.c.state, func.count()).group_by(messages.c.state))
        return {state: n for state, n in rows}


async def _wait_final(platform, n: int, timeout: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        states = await _states(platform)
        final = sum(v for k, v in states.items() if k not in ("accepted", "queued", "submitted"))
        if final >= n or time.monotonic() > deadline:
            return states
        await asyncio.sleep(0.05)


async def _submit_many(client, creds, n: int, text: str = "您的订单{i}已发货") -> list[str]:
    sem = asyncio.Semaphore(100)

    async def one(i: int) -> str:
        async with sem:
            r = await client.post(
                "/webservice/sms.php?method=Submit&format=json",
                data={
                    "account": creds.account,
                    "password": creds.apikey,
                    "mobile": f"1380000{i:04d}",
                    "content": f"【{SIGNATURE}】" + text.format(i=i),
                },
            )
            body = r.json()
            assert body["code"] == 2, body
            return body["smsid"]

    return await asyncio.gather(*[one(i) for i in range(n)])


@pytest.fixture
async def sims():
    primary = Simulator(
        system_id="hongyan",
        password="secret",
        dlr_delay_s=0.01,
        status_mix="DELIVRD:0.9,UNDELIV:0.05,R:00702:0.05",
        seed=7,
    )
    backup = Simulator(system_id="hongyan", password="secret", dlr_delay_s=0.01, seed=8)
    await primary.start()
    await backup.start()
    yield primary, backup
    await primary.stop()
    await backup.stop()


async def _runtime(platform, primary, backup) -> DeliveryRuntime:
    await channel_svc.add_channel(
        platform, "sim1", f"127.0.0.1:{primary.port}", password="secret", system_id="hongyan", window=50, tps=5000
    )
    await channel_svc.add_channel(
        platform,
        "sim2",
        f"127.0.0.1:{backup.port}",
        password="secret",
        system_id="hongyan",
        window=50,
        tps=5000,
        priority="backup",
    )
    runtime = DeliveryRuntime(platform, reload_s=0.2)
    await runtime.start()
    deadline = time.monotonic() + 10
    while not all(r.channel.available for r in runtime.router.routes):
        assert time.monotonic() < deadline, "channels did not bind"
        await asyncio.sleep(0.02)
    platform.writer.on_commit.append(runtime.dispatcher.wake)
    return runtime


async def test_thousand_messages_end_to_end(platform, client, live, sims) -> None:
    primary, backup = sims
    runtime = await _runtime(platform, primary, backup)
    before = await ledger_total(platform, live)
    smsids = await _submit_many(client, live, 1000)
    states = await _wait_final(platform, 1000)
    await runtime.stop()
    assert sum(states.values()) == 1000 and "submitted" not in states and "queued" not in states, states
    assert states.get("delivered", 0) + states.get("undelivered", 0) == 1000
    # each message reached the carrier exactly once, all on the primary
    assert primary.stats.messages == 1000 and backup.stats.messages == 0
    assert set(primary.messages_by_destination.values()) == {1}
    # the ledger refunds exactly the failed ones
    async with platform.engines.read.connect() as conn:
        refunds = (
            await conn.execute(select(func.count()).select_from(ledger).where(ledger.c.kind == "refund"))
        ).scalar_one()
    assert refunds == states.get("undelivered", 0) > 0
    assert await ledger_total(platform, live) == before - 1000 + refunds
    assert len(set(smsids)) == 1000


async def test_failover_when_primary_dies(platform, client, live, sims) -> None:
    platform.settings.interrupted_receipt_wait_s = 1.0  # a submit on the wire when it dies: to the backup after 1 s
    primary, backup = sims
    runtime = await _runtime(platform, primary, backup)
    first = await _submit_many(client, live, 200)
    deadline = time.monotonic() + 10
    while primary.stats.messages == 0:  # mid-run: once the primary has taken some (not a race with the dispatcher)
        assert time.monotonic() < deadline, "nothing reached the primary"
        await asyncio.sleep(0.005)
    await primary.stop()  # the primary SMSC goes away mid-run, with the receipts it still owed
    rest = await _submit_many(client, live, 200, text="第二批{i}")
    deadline = time.monotonic() + 60
    while True:
        async with platform.engines.read.connect() as conn:
            rows = list(await conn.execute(select(messages.c.smsid, messages.c.state, messages.c.channel)))
        open_ = [
            r for r in rows if r.state in ("accepted", "queued") or (r.state == "submitted" and r.channel != "sim1")
        ]
        if not open_ or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    await runtime.stop()
    assert not open_, open_[:5]
    by = {r.smsid: r for r in rows}
    # everything sent after the kill went through the backup and reached a final state
    assert all(by[s].channel == "sim2" and by[s].state in ("delivered", "undelivered") for s in rest)
    # what the primary accepted stays with it (waiting for its receipt); nothing was sent twice, except a submit
    # on the wire when the primary died (in doubt: if it was read, its receipt died with it), which goes to the
    # backup after the receipt wait, flagged as a possible duplicate (decision 0002). The dying primary may or
    # may not have read such a submit, so a flagged message reached the SMSCs once or twice, any other once.
    assert all(by[s].channel in ("sim1", "sim2") for s in first)
    async with platform.engines.read.connect() as conn:
        flagged = {
            r.smsid
            for r in await conn.execute(select(message_events.c.smsid).where(message_events.c.detail == INTERRUPTED))
        }
        flagged_texts = {
            r.content for r in await conn.execute(select(messages.c.content).where(messages.c.smsid.in_(flagged)))
        }
    texts = primary.messages_by_text + backup.messages_by_text
    assert len(texts) == 400 and max(texts.values()) <= 2
    assert {text for text, n in texts.items() if n == 2} <= flagged_texts
    assert all(by[s].channel == "sim2" and by[s].state in ("delivered", "undelivered") for s in flagged)
    assert set(backup.messages_by_text.values()) <= {1} and set(primary.messages_by_text.values()) == {1}


async def test_long_chinese_message_is_five_ucs2_parts(platform, client, live, sims) -> None:
    primary, backup = sims
    runtime = await _runtime(platform, primary, backup)
    text = "长" * (300 - len(f"【{SIGNATURE}】"))
    r = await client.post(
        "/webservice/sms.php?method=Submit&format=json",
        data={
            "account": live.account,
            "password": live.apikey,
            "mobile": "13912345678",
            "content": f"【{SIGNATURE}】{text}",
        },
    )
    assert r.json()["code"] == 2
    await _wait_final(platform, 1)
    await runtime.stop()
    parts = primary.parts_for("13912345678")
    assert len(parts) == 5
    assert {p.data_coding for p in parts} == {8}
    assert [p.udh[:3] for p in parts] == [b"\x05\x00\x03"] * 5
    assert [p.udh[4:] for p in parts] == [bytes([5, i]) for i in range(1, 6)]
    assert len({p.udh[3] for p in parts}) == 1
    assert b"".join(p.short_message[6:] for p in parts).decode("utf-16-be") == f"【{SIGNATURE}】{text}"
    states = await _states(platform)
    assert sum(states.values()) == 1 and set(states) <= {"delivered", "undelivered"}  # the primary's status mix
    async with platform.engines.read.connect() as conn:
        assert (await conn.execute(select(messages.c.segments, messages.c.parts))).one() == (5, 5)


async def ledger_total(platform, creds) -> int:
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, creds.account)
        assert row.balance == await ledger_sum(conn, row.id)
        return row.balance
