"""A dispatcher died with submits in flight: the next one records those whose receipts came (the carrier has them)
instead of sending them again, holds the others until their receipts could have come, then sends them again,
flagged (docs/decisions/0002-submit-crash-window.md). Both backends."""

from __future__ import annotations

from sqlalchemy import func, select

from hongyan.pipeline.context import SubmitRequest
from hongyan.services.submit import submit
from hongyan.store import delivery
from hongyan.store.accounts import get_account, ledger_sum
from hongyan.store.clock import now_ms
from hongyan.store.tables import carrier_ids, ledger, message_events, messages, pending_receipts
from tests.conftest import SIGNATURE

LEASE_MS = 30_000
WAIT_MS = 60_000
LONG = "长" * 100  # two UCS2 parts


async def _accept(platform, creds, texts: list[str], mobiles: list[str] | None = None) -> list[str]:
    out = []
    for i, text in enumerate(texts):
        mobile = mobiles[i] if mobiles else f"1390014{i:04d}"
        r = await submit(
            platform,
            SubmitRequest(
                account=creds.account, password=creds.apikey, mobile=mobile, content=f"【{SIGNATURE}】{text}"
            ),
        )
        assert r.code == 2, r
        out.append(r.smsid)
    return out


async def _crash_with_in_flight(platform, smsids: list[str], channel: str = "sim") -> int:
    """Worker A leases and marks every message as on the wire, then dies; returns the mark time."""
    engine = platform.engines.write
    skip = not platform.engines.is_sqlite
    leased = await delivery.lease_due(engine, owner="A", limit=100, lease_ms=LEASE_MS, skip_locked=skip)
    assert {m.smsid for m in leased} == set(smsids)
    mark = now_ms()
    assert await delivery.mark_submitting(engine, "A", dict.fromkeys(smsids, channel), now=mark) == set(smsids)
    return mark


async def _take_over(platform, owner: str, now: int) -> list[delivery.DueMessage]:
    engine = platform.engines.write
    return await delivery.lease_due(
        engine, owner=owner, limit=100, lease_ms=LEASE_MS, skip_locked=not platform.engines.is_sqlite, now=now
    )


async def _settle(
    platform, owner: str, due: list[delivery.DueMessage], now: int, parts: dict[str, int] | None = None, wait=WAIT_MS
):
    return await delivery.settle_interrupted(
        platform.engines.write,
        owner,
        [delivery.Interrupted(m, (parts or {}).get(m.smsid, 1)) for m in due],
        wait_ms=wait,
        skip_locked=not platform.engines.is_sqlite,
        now=now,
    )


async def _receipt(platform, cid: str, mobile: str, stat: str = "DELIVRD", channel: str = "sim") -> None:
    finished = await delivery.apply_receipts(
        platform.engines.write, [delivery.ReceiptIn(channel, cid, stat, "000", None, mobile)]
    )
    assert finished == []  # nobody knows this id yet: kept


async def _message(platform, smsid: str):
    async with platform.engines.read.connect() as conn:
        return (await conn.execute(select(messages).where(messages.c.smsid == smsid))).one()


async def _events(platform, smsid: str) -> list[tuple[str, str, str | None]]:
    async with platform.engines.read.connect() as conn:
        rows = await conn.execute(
            select(message_events.c.from_state, message_events.c.to_state, message_events.c.detail)
            .where(message_events.c.smsid == smsid)
            .order_by(message_events.c.id)
        )
        return [tuple(r) for r in rows]


async def _count(platform, table, *where) -> int:
    async with platform.engines.read.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


async def test_a_receipt_for_the_handset_records_the_submit_instead_of_sending_it_again(platform, live) -> None:
    (a,) = await _accept(platform, live, ["通知"])
    mark = await _crash_with_in_flight(platform, [a])
    mobile = (await _message(platform, a)).mobile
    # the carrier had it: its receipt comes with an id nobody recorded, the handset written with the country code
    await _receipt(platform, "A1B2C3", "86" + mobile)
    async with platform.engines.read.connect() as conn:
        kept = (await conn.execute(select(pending_receipts))).one()
    assert kept.mobile == mobile

    due = await _take_over(platform, "C", mark + LEASE_MS + 1000)
    assert [m.smsid for m in due] == [a] and due[0].interrupted and due[0].channel == "sim"
    settled = await _settle(platform, "C", due, mark + LEASE_MS + 1000)
    assert (settled.resend, settled.held, settled.reconciled) == ([], [], [a])
    assert [f.smsid for f in settled.finished] == [a]

    row = await _message(platform, a)
    assert (row.state, row.channel, row.parts, row.submitted_at, row.lease_owner) == ("delivered", "sim", 1, mark, None)
    assert await _count(platform, pending_receipts) == 0
    assert await _count(platform, carrier_ids, carrier_ids.c.smsid == a, carrier_ids.c.carrier_msg_id == "a1b2c3") == 1
    events = await _events(platform, a)
    assert ("queued", "submitted", delivery.RECONCILED) in events
    assert ("queued", "queued", delivery.INTERRUPTED) not in events
    assert events[-1][:2] == ("submitted", "delivered")


async def test_without_a_receipt_it_is_held_then_sent_again_flagged(platform, live) -> None:
    (a,) = await _accept(platform, live, ["通知"])
    mark = await _crash_with_in_flight(platform, [a])
    attempts = (await _message(platform, a)).attempts
    t = mark + LEASE_MS + 1000
    settled = await _settle(platform, "C", await _take_over(platform, "C", t), t)
    assert (settled.resend, settled.held, settled.reconciled) == ([], [a], [])
    row = await _message(platform, a)
    assert (row.state, row.lease_owner, row.next_attempt_at, row.attempts) == ("queued", None, t + 1000, attempts)
    assert row.submit_started_at == mark  # still known as possibly at the carrier
    assert await _take_over(platform, "C", t + 500) == []  # held: not due before its next look
    # its wait ends WAIT_MS after the mark: no receipt came, so it is sent again, flagged as a possible duplicate
    t2 = mark + WAIT_MS
    due = await _take_over(platform, "D", t2)
    assert [m.smsid for m in due] == [a]
    settled = await _settle(platform, "D", due, t2)
    assert [m.smsid for m in settled.resend] == [a] and settled.held == []
    assert (await _message(platform, a)).lease_owner == "D"
    assert ("queued", "queued", delivery.INTERRUPTED) in await _events(platform, a)


async def test_a_wait_of_zero_sends_again_at_once_but_a_receipt_already_kept_still_counts(platform, live) -> None:
    a, b = await _accept(platform, live, ["一", "二"])
    mark = await _crash_with_in_flight(platform, [a, b])
    await _receipt(platform, "B1", (await _message(platform, b)).mobile)
    t = mark + LEASE_MS + 1000
    settled = await _settle(platform, "C", await _take_over(platform, "C", t), t, wait=0)
    assert [m.smsid for m in settled.resend] == [a] and settled.reconciled == [b] and settled.held == []
    assert ("queued", "queued", delivery.INTERRUPTED) in await _events(platform, a)


async def test_a_receipt_that_comes_while_held_is_found_at_the_next_look(platform, live) -> None:
    (a,) = await _accept(platform, live, ["通知"])
    mark = await _crash_with_in_flight(platform, [a])
    t = mark + LEASE_MS + 1000
    assert (await _settle(platform, "C", await _take_over(platform, "C", t), t)).held == [a]
    mobile = (await _message(platform, a)).mobile
    await _receipt(platform, "77", "+86" + mobile, stat="UNDELIV")
    before = await _balance(platform, live)
    settled = await _settle(platform, "C", await _take_over(platform, "C", t + 1000), t + 1000)
    assert settled.reconciled == [a]
    assert (await _message(platform, a)).state == "undelivered"
    assert await _balance(platform, live) == before + 1  # the failure is refunded, once
    async with platform.engines.read.connect() as conn:
        refunds = await conn.execute(select(ledger).where(ledger.c.smsid == a, ledger.c.kind == "refund"))
        assert len(list(refunds)) == 1


async def test_a_long_message_needs_a_receipt_for_every_part(platform, live) -> None:
    (a,) = await _accept(platform, live, [LONG])
    mark = await _crash_with_in_flight(platform, [a])
    mobile = (await _message(platform, a)).mobile
    await _receipt(platform, "P1", mobile)
    await _receipt(platform, "P1", mobile)  # the SMSC repeats a receipt nobody acknowledged: still one part
    t = mark + LEASE_MS + 1000
    settled = await _settle(platform, "C", await _take_over(platform, "C", t), t, parts={a: 2})
    assert settled.held == [a]
    await _receipt(platform, "P2", mobile)
    settled = await _settle(platform, "C", await _take_over(platform, "C", t + 1000), t + 1000, parts={a: 2})
    assert settled.reconciled == [a]
    row = await _message(platform, a)
    assert (row.state, row.parts) == ("delivered", 2)
    async with platform.engines.read.connect() as conn:
        ids = [r.carrier_msg_id for r in await conn.execute(select(carrier_ids).where(carrier_ids.c.smsid == a))]
    assert sorted(ids) == ["p1", "p2"]
    assert await _count(platform, pending_receipts) == 0  # both copies of P1 are consumed


async def test_a_part_missing_after_the_wait_sends_the_message_again(platform, live) -> None:
    (a,) = await _accept(platform, live, [LONG])
    mark = await _crash_with_in_flight(platform, [a])
    await _receipt(platform, "Q1", (await _message(platform, a)).mobile)
    t = mark + WAIT_MS
    settled = await _settle(platform, "C", await _take_over(platform, "C", t), t, parts={a: 2})
    assert [m.smsid for m in settled.resend] == [a]
    assert await _count(platform, pending_receipts) == 1  # the part's receipt stays kept for the operator


async def test_receipts_match_only_their_channel_handset_and_time(platform, live) -> None:
    a, b = await _accept(platform, live, ["一", "二"])
    mark = await _crash_with_in_flight(platform, [a, b])
    mobile_a = (await _message(platform, a)).mobile
    await _receipt(platform, "OTHER-CH", mobile_a, channel="elsewhere")  # same handset, another channel
    await _receipt(platform, "OTHER-NO", "13911112222")  # same channel, another handset
    t = mark + LEASE_MS + 1000
    settled = await _settle(platform, "C", await _take_over(platform, "C", t), t)
    assert sorted(settled.held) == sorted([a, b]) and settled.reconciled == []
    # a receipt stamped long before the mark reports on an older submit, not on this one
    await _receipt(platform, "OLD", mobile_a)
    async with platform.engines.write.begin() as conn:
        await conn.execute(
            pending_receipts.update()
            .where(pending_receipts.c.carrier_msg_id == "old")
            .values(received_at=mark - 10 * 60_000)
        )
    settled = await _settle(platform, "C", await _take_over(platform, "C", t + 1000), t + 1000)
    assert sorted(settled.held) == sorted([a, b]) and settled.reconciled == []


async def test_two_messages_to_one_handset_take_one_receipt_each_oldest_first(platform, live) -> None:
    a, b = await _accept(platform, live, ["一", "二"], mobiles=["13900000001", "13900000001"])
    mark = await _crash_with_in_flight(platform, [a, b])
    await _receipt(platform, "R1", "13900000001")
    t = mark + LEASE_MS + 1000
    settled = await _settle(platform, "C", await _take_over(platform, "C", t), t)
    assert len(settled.reconciled) == 1 and len(settled.held) == 1
    await _receipt(platform, "R2", "13900000001")
    settled = await _settle(platform, "C", await _take_over(platform, "C", t + 1000), t + 1000)
    assert len(settled.reconciled) == 1
    async with platform.engines.read.connect() as conn:
        owners = {r.carrier_msg_id: r.smsid for r in await conn.execute(select(carrier_ids))}
    assert set(owners) == {"r1", "r2"} and set(owners.values()) == {a, b}


async def test_a_worker_that_lost_the_lease_records_nothing(platform, live) -> None:
    (a,) = await _accept(platform, live, ["通知"])
    mark = await _crash_with_in_flight(platform, [a])
    await _receipt(platform, "Z9", (await _message(platform, a)).mobile)
    t = mark + LEASE_MS + 1000
    due = await _take_over(platform, "C", t)
    await _take_over(platform, "D", t + LEASE_MS + 1000)  # C stalled past its lease; D has the message now
    settled = await _settle(platform, "C", due, t)
    assert settled.finished == []
    assert (await _message(platform, a)).state == "queued"
    assert await _count(platform, pending_receipts) == 1  # still there for D


async def _balance(platform, creds) -> int:
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, creds.account)
        assert row.balance == await ledger_sum(conn, row.id)
        return row.balance
