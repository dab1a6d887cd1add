"""Receipts that do not quote the id the way submit_sm_resp gave it, receipts that never come (the sweeper),
and the submit-intent mark the crash recovery relies on."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, insert, select, update

from hongyan.domain.carrier_ids import id_aliases
from hongyan.pipeline.context import SubmitRequest
from hongyan.services.submit import submit
from hongyan.store import delivery
from hongyan.store.accounts import get_account, ledger_sum
from hongyan.store.clock import now_ms
from hongyan.store.tables import accounts, carrier_ids, ledger, message_events, messages, outbox, pending_receipts
from hongyan.workers.receipts import ReceiptSweeper
from tests.conftest import SIGNATURE

HOUR_MS = 3_600_000


async def _send(platform, creds, n: int) -> list[str]:
    out = []
    for i in range(n):
        r = await submit(
            platform,
            SubmitRequest(
                account=creds.account,
                password=creds.apikey,
                mobile=f"1380014{i:04d}",
                content=f"【{SIGNATURE}】通知{i}",
            ),
        )
        assert r.code == 2, r
        out.append(r.smsid)
    return out


async def _submitted(platform, smsids: list[str], ids: list[str]) -> None:
    engine = platform.engines.write
    await delivery.lease_due(engine, owner="A", limit=100, lease_ms=30_000, skip_locked=not platform.engines.is_sqlite)
    done = await delivery.record_submitted(
        engine, "A", [delivery.Submitted(s, "sim", (cid,)) for s, cid in zip(smsids, ids, strict=True)]
    )
    assert done == smsids


async def _rows(platform) -> dict[str, tuple[str, str | None]]:
    async with platform.engines.read.connect() as conn:
        return {
            r.smsid: (r.state, r.carrier_status)
            for r in await conn.execute(select(messages.c.smsid, messages.c.state, messages.c.carrier_status))
        }


async def _count(platform, table, *where) -> int:
    async with platform.engines.read.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


async def _balance(platform, creds) -> int:
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, creds.account)
        assert row.balance == await ledger_sum(conn, row.id)
        return row.balance


async def test_receipt_ids_in_the_other_base_with_padding_and_case_match(platform, live) -> None:
    smsids = await _send(platform, live, 4)
    # what submit_sm_resp said …
    await _submitted(platform, smsids, ["00A1B2C3", "1a2b", "123456", "0000FF"])
    # … and how the receipts quote it: decimal for hex, padded, upper-case hex for decimal, unpadded
    receipts = [str(int("a1b2c3", 16)), "0006699", "1E240", "ff"]
    await delivery.apply_receipts(
        platform.engines.write, [delivery.ReceiptIn("sim", cid, "DELIVRD") for cid in receipts]
    )
    assert {s: st for s, (st, _) in (await _rows(platform)).items()} == dict.fromkeys(smsids, "delivered")
    assert await _count(platform, pending_receipts) == 0


async def test_early_receipt_in_the_other_base_waits_and_is_applied(platform, live) -> None:
    a, b = await _send(platform, live, 2)
    engine = platform.engines.write
    # a: the receipt (decimal) arrives before the submit (hex) is recorded
    await delivery.apply_receipts(engine, [delivery.ReceiptIn("sim", "000255", "UNDELIV")])
    assert await _count(platform, pending_receipts) == 1
    await _submitted(platform, [a, b], ["FF", "abc"])
    assert (await _rows(platform))[a] == ("undelivered", "UNDELIV")
    # b: the receipt and the submit committed concurrently, each missing the other (the reconciler's case)
    async with engine.begin() as conn:
        alts = id_aliases(str(0xABC))
        await conn.execute(
            insert(pending_receipts).values(
                channel="sim",
                carrier_msg_id=str(0xABC),
                carrier_msg_id_alt1=alts[0],
                carrier_msg_id_alt2=alts[1],
                stat="DELIVRD",
                received_at=now_ms(),
            )
        )
    assert await delivery.reconcile_pending(engine) == 1
    assert (await _rows(platform))[b] == ("delivered", "DELIVRD")
    assert await _count(platform, pending_receipts) == 0


async def test_an_id_that_reads_two_ways_goes_to_the_open_submit(platform, live) -> None:
    done, open_ = await _send(platform, live, 2)
    # "26" (decimal 26) is "1a" in hex: `done` has id 26 and its receipt already; `open_` (1a) waits
    await _submitted(platform, [done, open_], ["26", "1a"])
    await delivery.apply_receipts(platform.engines.write, [delivery.ReceiptIn("sim", "26", "DELIVRD")])
    assert (await _rows(platform))[done][0] == "delivered"
    await delivery.apply_receipts(platform.engines.write, [delivery.ReceiptIn("sim", "26", "UNDELIV")])
    assert (await _rows(platform))[open_] == ("undelivered", "UNDELIV")
    async with platform.engines.read.connect() as conn:
        stats = dict(list(await conn.execute(select(carrier_ids.c.carrier_msg_id, carrier_ids.c.stat))))
    assert stats == {"26": "DELIVRD", "1a": "UNDELIV"}


async def test_no_receipt_within_the_bound_expires_refunds_and_pushes(platform, live) -> None:
    async with platform.engines.write.begin() as conn:
        await conn.execute(update(accounts).values(receipt_url="http://127.0.0.1:9/receipts"))
    smsids = await _send(platform, live, 5)
    before = await _balance(platform, live)
    await _submitted(platform, smsids, [f"{i:x}" for i in range(100, 105)])
    await delivery.apply_receipts(platform.engines.write, [delivery.ReceiptIn("sim", "64", "DELIVRD")])  # smsids[0]
    start = now_ms()

    def sweeper(offset_ms: int) -> ReceiptSweeper:
        return ReceiptSweeper(
            platform.engines.write,
            timeout_s=72 * 3600,
            skip_locked=not platform.engines.is_sqlite,
            batch=2,
            clock=lambda: start + offset_ms,
        )

    assert await sweeper(71 * HOUR_MS).sweep() == 0  # within the bound: left alone
    assert await sweeper(73 * HOUR_MS).sweep() == 4  # in batches of 2
    rows = await _rows(platform)
    assert rows[smsids[0]] == ("delivered", "DELIVRD")
    assert all(rows[s] == ("expired", "HY:TIMEOUT") for s in smsids[1:])
    assert await _balance(platform, live) == before + 4
    async with platform.engines.read.connect() as conn:
        pushes = [json.loads(r.payload) for r in await conn.execute(select(outbox.c.payload))]
        refunded = {r.smsid for r in await conn.execute(select(ledger.c.smsid).where(ledger.c.kind == "refund"))}
    assert refunded == set(smsids[1:])
    assert sorted(p["smsid"] for p in pushes if p["msg"] == "HY:TIMEOUT") == sorted(smsids[1:])
    assert all(p["code"] == "0" for p in pushes if p["msg"] == "HY:TIMEOUT")
    # a receipt that comes after all changes nothing: no second refund, the state stays
    await delivery.apply_receipts(platform.engines.write, [delivery.ReceiptIn("sim", "65", "DELIVRD")])
    assert (await _rows(platform))[smsids[1]] == ("expired", "HY:TIMEOUT")
    assert await _balance(platform, live) == before + 4
    assert await sweeper(80 * HOUR_MS).sweep() == 0
    assert await _count(platform, message_events, message_events.c.to_state == "expired") == 4


async def test_the_sweeper_runs_on_its_own(platform, live) -> None:
    smsids = await _send(platform, live, 2)
    await _submitted(platform, smsids, ["a1", "a2"])
    sweeper = ReceiptSweeper(
        platform.engines.write, timeout_s=0.05, every_s=0.02, skip_locked=not platform.engines.is_sqlite
    )
    await sweeper.start()
    try:
        for _ in range(500):
            if sweeper.expired == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await sweeper.stop()
    assert {st for st, _ in (await _rows(platform)).values()} == {"expired"}


async def test_submit_mark_is_set_held_only_and_cleared_by_a_retry(platform, live) -> None:
    a, b = await _send(platform, live, 2)
    engine = platform.engines.write
    leased = await delivery.lease_due(engine, owner="A", limit=10, lease_ms=30_000, skip_locked=False)
    assert not any(m.interrupted for m in leased)
    assert await delivery.mark_submitting(engine, "B", [a]) == set()  # B holds nothing
    assert await delivery.mark_submitting(engine, "A", [a, b]) == {a, b}
    await delivery.record_retry(engine, "A", [b], now_ms(), "channel down")  # b's outcome is known: not in flight
    # A dies; after its lease, C takes both over: only a was in flight
    again = await delivery.lease_due(
        engine, owner="C", limit=10, lease_ms=30_000, skip_locked=False, now=now_ms() + 31_000
    )
    assert {m.smsid: m.interrupted for m in again} == {a: True, b: False}
    # taking over is not yet resending: tests/integration/test_interrupted_submits.py
    assert await _count(platform, message_events, message_events.c.detail == delivery.INTERRUPTED) == 0
