"""The delivery store: leases, submits, receipts (also before the submit is recorded), refunds, transitions."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from hongyan.domain.states import MessageState as S
from hongyan.domain.transitions import ALLOWED, IllegalTransition, check
from hongyan.pipeline.context import SubmitRequest
from hongyan.services.submit import submit
from hongyan.store import delivery
from hongyan.store.accounts import get_account, ledger_sum
from hongyan.store.clock import now_ms
from hongyan.store.tables import carrier_ids, message_events, messages, pending_receipts
from tests.conftest import SIGNATURE


async def _send(platform, creds, n: int, text: str = "您的订单已发货") -> list[str]:
    out = []
    for i in range(n):
        r = await submit(
            platform,
            SubmitRequest(
                account=creds.account, password=creds.apikey, mobile=f"1380013{i:04d}", content=f"【{SIGNATURE}】{text}"
            ),
        )
        assert r.code == 2, r
        out.append(r.smsid)
    return out


async def _states(platform) -> dict[str, str]:
    async with platform.engines.read.connect() as conn:
        return {r.smsid: r.state for r in await conn.execute(select(messages.c.smsid, messages.c.state))}


async def _balance_matches_ledger(platform, creds) -> int:
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, creds.account)
        assert row.balance == await ledger_sum(conn, row.id)
        return row.balance


def _lease(platform, owner: str, now: int | None = None, limit: int = 100):
    return delivery.lease_due(
        platform.engines.write,
        owner=owner,
        limit=limit,
        lease_ms=30_000,
        skip_locked=not platform.engines.is_sqlite,
        now=now,
    )


async def test_lease_is_exclusive_and_expires(platform, live) -> None:
    smsids = await _send(platform, live, 3)
    a = await _lease(platform, "A")
    assert [m.smsid for m in a] == smsids and all(m.attempts == 1 for m in a)
    assert await _lease(platform, "B") == []
    assert set((await _states(platform)).values()) == {"queued"}
    # A dies: once its lease expires B takes the messages over.
    b = await _lease(platform, "B", now=now_ms() + 31_000)
    assert [m.smsid for m in b] == smsids and all(m.attempts == 2 for m in b)
    # A's late result is refused: it no longer holds the lease.
    assert (
        await delivery.record_submitted(platform.engines.write, "A", [delivery.Submitted(smsids[0], "sim", ("x1",))])
        == []
    )
    done = await delivery.record_submitted(
        platform.engines.write, "B", [delivery.Submitted(s, "sim", (f"id-{s}",)) for s in smsids]
    )
    assert done == smsids
    assert set((await _states(platform)).values()) == {"submitted"}
    async with platform.engines.read.connect() as conn:
        events = (await conn.execute(select(func.count()).select_from(message_events))).scalar_one()
    assert events == 6  # accepted→queued and queued→submitted, once each


async def test_a_batch_of_submits_records_each_held_row_with_its_channel_and_parts(platform, live) -> None:
    smsids = await _send(platform, live, 5)
    mine = await _lease(platform, "A", limit=4)  # the fifth stays accepted: nobody holds it
    assert [m.smsid for m in mine] == smsids[:4]
    results = [
        delivery.Submitted(smsids[0], "sim", ("a1",)),
        delivery.Submitted(smsids[1], "backup", ("b1", "b2")),
        delivery.Submitted(smsids[2], "sim", ("c1", "c2")),
        delivery.Submitted(smsids[3], "sim", ("d1",)),
        delivery.Submitted(smsids[4], "sim", ("e1",)),  # not leased by A: refused
    ]
    done = await delivery.record_submitted(platform.engines.write, "A", results)
    assert sorted(done) == sorted(smsids[:4])
    async with platform.engines.read.connect() as conn:
        rows = {
            r.smsid: (r.state, r.channel, r.parts, r.lease_owner, r.submitted_at is not None)
            for r in await conn.execute(
                select(
                    messages.c.smsid,
                    messages.c.state,
                    messages.c.channel,
                    messages.c.parts,
                    messages.c.lease_owner,
                    messages.c.submitted_at,
                )
            )
        }
        ids = {
            (r.carrier_msg_id, r.smsid, r.part)
            for r in await conn.execute(select(carrier_ids.c.carrier_msg_id, carrier_ids.c.smsid, carrier_ids.c.part))
        }
    assert rows[smsids[0]] == ("submitted", "sim", 1, None, True)
    assert rows[smsids[1]] == ("submitted", "backup", 2, None, True)
    assert rows[smsids[2]] == ("submitted", "sim", 2, None, True)
    assert rows[smsids[3]] == ("submitted", "sim", 1, None, True)
    assert rows[smsids[4]][0] == "accepted" and not rows[smsids[4]][4]
    assert ids == {
        ("a1", smsids[0], 1),
        ("b1", smsids[1], 1),
        ("b2", smsids[1], 2),
        ("c1", smsids[2], 1),
        ("c2", smsids[2], 2),
        ("d1", smsids[3], 1),
    }


async def test_leased_row_is_due_when_its_lease_ends_and_retries_go_before_new_messages(platform, live) -> None:
    first, second = await _send(platform, live, 2)
    t = now_ms()
    leased = await _lease(platform, "A", now=t, limit=1)
    assert [m.smsid for m in leased] == [first]
    async with platform.engines.read.connect() as conn:
        row = (await conn.execute(select(messages).where(messages.c.smsid == first))).one()
    # in flight: outside the index's due range until the lease ends (so a lease never reads it)
    assert (row.state, row.lease_expires_at, row.next_attempt_at) == ("queued", t + 30_000, t + 30_000)
    await delivery.record_retry(platform.engines.write, "A", [first], t + 5_000, "no channel")
    fresh = await _send(platform, live, 3, text="您的订单已签收")
    # the retry, once due, is leased before the backlog of new messages (limit 2: it and the oldest new one)
    again = await _lease(platform, "B", now=t + 5_000, limit=2)
    assert [m.smsid for m in again] == [first, second]
    assert [m.attempts for m in again] == [2, 1]
    rest = await _lease(platform, "B", now=t + 5_000, limit=10)
    assert [m.smsid for m in rest] == fresh


async def test_receipts_final_states_and_refunds(platform, live) -> None:
    smsids = await _send(platform, live, 3)
    before = await _balance_matches_ledger(platform, live)
    await _lease(platform, "A")
    await delivery.record_submitted(
        platform.engines.write, "A", [delivery.Submitted(s, "sim", (f"c{i}",)) for i, s in enumerate(smsids)]
    )
    await delivery.apply_receipts(
        platform.engines.write,
        [
            delivery.ReceiptIn("sim", "c0", "DELIVRD"),
            delivery.ReceiptIn("sim", "c1", "UNDELIV"),
            delivery.ReceiptIn("sim", "c2", "R:00702"),
        ],
    )
    states = await _states(platform)
    assert [states[s] for s in smsids] == ["delivered", "undelivered", "undelivered"]
    assert await _balance_matches_ledger(platform, live) == before + 2
    # A duplicate receipt changes nothing and refunds nothing twice.
    await delivery.apply_receipts(platform.engines.write, [delivery.ReceiptIn("sim", "c1", "UNDELIV")])
    assert await _balance_matches_ledger(platform, live) == before + 2


async def test_receipt_before_submit_is_kept_and_reconciled(platform, live) -> None:
    (smsid,) = await _send(platform, live, 1)
    await _lease(platform, "A")
    await delivery.apply_receipts(platform.engines.write, [delivery.ReceiptIn("sim", "early", "DELIVRD")])
    async with platform.engines.read.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(pending_receipts))).scalar_one() == 1
    await delivery.record_submitted(platform.engines.write, "A", [delivery.Submitted(smsid, "sim", ("early",))])
    assert (await _states(platform))[smsid] == "delivered"
    async with platform.engines.read.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(pending_receipts))).scalar_one() == 0


async def test_multipart_waits_for_every_part(platform, live) -> None:
    (smsid,) = await _send(platform, live, 1, text="长" * 200)
    await _lease(platform, "A")
    await delivery.record_submitted(
        platform.engines.write, "A", [delivery.Submitted(smsid, "sim", ("p1", "p2", "p3", "p4"))]
    )
    await delivery.apply_receipts(
        platform.engines.write, [delivery.ReceiptIn("sim", f"p{i}", "DELIVRD") for i in (1, 2, 3)]
    )
    assert (await _states(platform))[smsid] == "submitted"
    await delivery.apply_receipts(platform.engines.write, [delivery.ReceiptIn("sim", "p4", "EXPIRED")])
    assert (await _states(platform))[smsid] == "expired"


async def test_failed_submit_is_refunded(platform, live) -> None:
    smsids = await _send(platform, live, 2)
    before = await _balance_matches_ledger(platform, live)
    await _lease(platform, "A")
    await delivery.record_retry(platform.engines.write, "A", [smsids[0]], now_ms() + 60_000, "throttled")
    assert await _lease(platform, "B") == []  # not due yet
    assert await delivery.record_failed(platform.engines.write, "A", [smsids[1]], S.REJECTED, "ESME_RINVDSTADR") == [
        smsids[1]
    ]
    assert await _balance_matches_ledger(platform, live) == before + 1
    assert [m.smsid for m in await _lease(platform, "B", now=now_ms() + 61_000)] == [smsids[0]]


def test_every_illegal_transition_is_refused() -> None:
    for a, b in itertools.product(S, S):
        if b in ALLOWED[a]:
            check(a, b)
        else:
            with pytest.raises(IllegalTransition):
                check(a, b)


async def test_store_transition_refuses_lost_race(platform, live) -> None:
    (smsid,) = await _send(platform, live, 1)
    async with platform.engines.write.begin() as conn:
        await delivery.transition(conn, smsid, S.ACCEPTED, S.QUEUED)
    with pytest.raises(IllegalTransition):
        async with platform.engines.write.begin() as conn:
            await delivery.transition(conn, smsid, S.ACCEPTED, S.QUEUED)
    with pytest.raises(IllegalTransition):
        async with platform.engines.write.begin() as conn:
            await delivery.transition(conn, smsid, S.QUEUED, S.DELIVERED)


async def test_reconcile_closes_the_concurrent_commit_race(platform, live) -> None:
    (smsid,) = await _send(platform, live, 1)
    await _lease(platform, "A")
    await delivery.record_submitted(platform.engines.write, "A", [delivery.Submitted(smsid, "sim", ("r1",))])
    # As if the receipt's transaction had missed the carrier id committed at the same moment:
    async with platform.engines.write.begin() as conn:
        await conn.execute(
            pending_receipts.insert(),
            {"channel": "sim", "carrier_msg_id": "r1", "stat": "DELIVRD", "received_at": now_ms()},
        )
    assert (await _states(platform))[smsid] == "submitted"
    assert await delivery.reconcile_pending(platform.engines.write) == 1
    assert (await _states(platform))[smsid] == "delivered"
    assert await delivery.reconcile_pending(platform.engines.write) == 0
