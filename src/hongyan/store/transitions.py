"""Applying state changes: every change is one conditional UPDATE (``… WHERE smsid = ? AND state = ?``) plus an
append-only ``message_events`` row, for a whole batch at a time; a final failure refunds the message's segments
(ledger row + balance) and queues its receipt push in the same transaction. The allowed moves are
``hongyan.domain.transitions``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.domain.pushes import receipt_fields
from hongyan.domain.states import LedgerKind
from hongyan.domain.states import MessageState as S
from hongyan.domain.transitions import IllegalTransition, check
from hongyan.store import outbox
from hongyan.store.clock import now_ms
from hongyan.store.prepared import Prepared, run
from hongyan.store.tables import accounts, ledger, message_events, messages


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4x; made per message
class Finished:
    """A message that reached a final state in a transaction: returned to the transaction's owner, which counts it
    (metrics, logs) once the commit succeeded."""

    smsid: str
    state: S
    submitted_at: int | None  # Unix ms the submit was recorded
    at: int  # Unix ms of the change

    @property
    def receipt_latency_s(self) -> float | None:
        """Seconds from the recorded submit to this change (the DLR latency when a receipt caused it)."""
        return None if self.submitted_at is None else max(0, self.at - self.submitted_at) / 1000


_EVENTS = Prepared(insert(message_events), column_keys=("smsid", "from_state", "to_state", "detail", "at"))
# Rows still `submitted` (locked on PostgreSQL; SQLite's writer already holds the database lock).
_FINISH = Prepared(
    update(messages)
    .where(messages.c.smsid.in_(bindparam("b_smsids", expanding=True)), messages.c.state == S.SUBMITTED.value)
    .values(
        state=bindparam("b_state"),
        carrier_status=bindparam("b_stat"),
        done_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )
    .returning(messages.c.smsid, messages.c.account_id, messages.c.segments, messages.c.mobile, messages.c.submitted_at)
)


async def record_events(conn: AsyncConnection, rows: Sequence[tuple[str, S, S, str | None]], now: int) -> None:
    """Append one ``message_events`` row per (smsid, from, to, detail)."""
    await run(
        conn,
        _EVENTS,
        [{"smsid": s, "from_state": a.value, "to_state": b.value, "detail": d, "at": now} for s, a, b, d in rows],
    )


async def push_receipts(conn: AsyncConnection, rows: Sequence[tuple[str, int, str, str]], now: int) -> None:
    """Outbox rows for the receipt pushes of final messages, in the transaction of the state change."""
    by_stat: dict[str, dict[str, str]] = {}  # the fields that depend on the status and time: built once per status
    events = []
    for smsid, account_id, mobile, stat in rows:
        base = by_stat.get(stat)
        if base is None:
            base = by_stat[stat] = receipt_fields(mobile="", smsid="", stat=stat, at_ms=now)
        events.append(outbox.Event(account_id, "receipt", smsid, {**base, "mobilephone": mobile, "smsid": smsid}, now))
    await outbox.enqueue_events(conn, events)


async def refund(conn: AsyncConnection, rows: Sequence[tuple[str, int, int]], now: int, note: str) -> None:
    """Give (smsid, account id, segments) back: balance and a refund ledger row each, in the caller's transaction."""
    per_account: dict[int, int] = defaultdict(int)
    for _, account_id, segments in rows:
        per_account[account_id] += segments
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == bindparam("b_id"))
        .values(balance=accounts.c.balance + bindparam("b_amount"), updated_at=now),
        [{"b_id": a, "b_amount": n} for a, n in per_account.items()],
    )
    await conn.execute(
        insert(ledger),
        [
            {"account_id": a, "kind": LedgerKind.REFUND.value, "amount": n, "smsid": s, "note": note, "created_at": now}
            for s, a, n in rows
        ],
    )


async def finish(conn: AsyncConnection, finals: Sequence[tuple[str, S, str]], now: int) -> list[Finished]:
    """submitted → final state with the carrier status; failures are refunded. Returns the messages changed."""
    wanted: dict[str, tuple[S, str]] = {}
    for smsid, state, stat in finals:
        check(S.SUBMITTED, state)
        wanted[smsid] = (state, stat)
    if not wanted:
        return []
    # One UPDATE … RETURNING per (state, status): only rows still `submitted` change, so a receipt applied twice
    # (even concurrently: PostgreSQL re-checks the condition on the locked row) cannot refund twice.
    groups: dict[tuple[S, str], list[str]] = defaultdict(list)
    for smsid, final in wanted.items():
        groups[final].append(smsid)
    rows = []
    for (state, stat), smsids in groups.items():
        params = {"b_smsids": smsids, "b_state": state.value, "b_stat": stat, "b_now": now}
        rows += await run(conn, _FINISH, params)
    if not rows:
        return []
    order = {smsid: i for i, smsid in enumerate(wanted)}
    rows.sort(key=lambda r: order[r.smsid])  # the receipts' order, whatever the groups
    changed = [(r.smsid, r.account_id, r.segments, *wanted[r.smsid]) for r in rows]
    await push_receipts(conn, [(r.smsid, r.account_id, r.mobile, wanted[r.smsid][1]) for r in rows], now)
    await record_events(conn, [(s, S.SUBMITTED, st, stat) for s, _, _, st, stat in changed], now)
    refunds = [(s, a, n) for s, a, n, st, _ in changed if st is not S.DELIVERED]
    if refunds:
        await refund(conn, refunds, now, note="carrier reported failure")
    return [Finished(r.smsid, wanted[r.smsid][0], r.submitted_at, now) for r in rows]


async def transition(conn: AsyncConnection, smsid: str, source: S, target: S, detail: str | None = None) -> None:
    """A single checked transition (for tools and tests); raises IllegalTransition on a lost race."""
    check(source, target)
    now = now_ms()
    res = await conn.execute(
        update(messages)
        .where(messages.c.smsid == smsid, messages.c.state == source.value)
        .values(state=target.value, updated_at=now)
    )
    if res.rowcount != 1:
        raise IllegalTransition(f"{smsid} is not {source.value}")
    await record_events(conn, [(smsid, source, target, detail)], now)
