"""Delivery queries: lease due messages, record submits, retries and failures, apply receipts.

Every state change is one conditional UPDATE (``… WHERE smsid = ? AND state = ?``) plus an append-only
``message_events`` row, done for a whole batch at a time. A final failure refunds the message's segments
(ledger row + balance) in the same transaction as the state change.

Carrier ids are stored canonical (``hongyan.domain.carrier_ids``) and a receipt is matched under its id and
the id's other-base spellings (hex ↔ decimal). Before a submit_sm may leave, the dispatcher durably marks the
message (``mark_submitting``); a message leased again with that mark set was in flight when its worker died
(see docs/decisions/0002-submit-crash-window.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hongyan.domain.carrier_ids import canonical_id, id_aliases, lookup_order
from hongyan.domain.carrier_status import RECEIPT_TIMEOUT, describe
from hongyan.domain.pushes import receipt_fields
from hongyan.domain.states import LedgerKind
from hongyan.domain.states import MessageState as S
from hongyan.domain.transitions import FAILED_FINAL, IllegalTransition, check
from hongyan.store import outbox
from hongyan.store.clock import now_ms
from hongyan.store.tables import (
    accounts,
    carrier_ids,
    ledger,
    message_events,
    messages,
    pending_receipts,
    unparsed_deliveries,
)

INTERRUPTED = "resent after an interrupted submit (possible duplicate at the carrier)"


@dataclass(frozen=True, slots=True)
class DueMessage:
    id: int
    smsid: str
    account_id: int
    mobile: str
    carrier: str
    content: str
    attempts: int
    channel: str | None
    submit_started_at: int | None = None

    @property
    def interrupted(self) -> bool:
        """A previous worker may have handed this message to a carrier before it died (the in-flight window)."""
        return self.submit_started_at is not None


@dataclass(frozen=True, slots=True)
class Submitted:
    smsid: str
    channel: str
    carrier_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReceiptIn:
    channel: str
    carrier_msg_id: str
    stat: str
    err: str | None = None
    done_at: int | None = None


_DUE_COLUMNS = (
    messages.c.id,
    messages.c.smsid,
    messages.c.account_id,
    messages.c.mobile,
    messages.c.carrier,
    messages.c.content,
    messages.c.attempts,
    messages.c.channel,
    messages.c.submit_started_at,
)


async def lease_due(
    engine: AsyncEngine, *, owner: str, limit: int, lease_ms: int, skip_locked: bool, now: int | None = None
) -> list[DueMessage]:
    """Take up to ``limit`` due messages: accepted ones, and queued ones whose lease expired (a dead
    worker's). One statement marks them queued under this owner's lease; first leases get an event row."""
    now = now or now_ms()
    due = or_(
        messages.c.state == S.ACCEPTED.value,
        and_(
            messages.c.state == S.QUEUED.value,
            or_(messages.c.lease_expires_at.is_(None), messages.c.lease_expires_at < now),
        ),
    )
    pick = select(messages.c.id).where(due, messages.c.next_attempt_at <= now).order_by(messages.c.id).limit(limit)
    if skip_locked:
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        update(messages)
        .where(messages.c.id.in_(pick.scalar_subquery()))
        .values(
            state=S.QUEUED.value,
            lease_owner=owner,
            lease_expires_at=now + lease_ms,
            attempts=messages.c.attempts + 1,
            updated_at=now,
        )
        .returning(*_DUE_COLUMNS)
    )
    async with engine.begin() as conn:
        rows = [DueMessage(*r) for r in await conn.execute(stmt)]
        first = [r for r in rows if r.attempts == 1]
        if first:
            await _events(conn, [(r.smsid, S.ACCEPTED, S.QUEUED, None) for r in first], now)
        interrupted = [r for r in rows if r.interrupted]
        if interrupted:  # not a transition: an audit note that this message may reach the carrier twice
            await _events(conn, [(r.smsid, S.QUEUED, S.QUEUED, INTERRUPTED) for r in interrupted], now)
    rows.sort(key=lambda r: r.id)
    return rows


async def _events(conn: AsyncConnection, rows: Sequence[tuple[str, S, S, str | None]], now: int) -> None:
    await conn.execute(
        insert(message_events),
        [{"smsid": s, "from_state": a.value, "to_state": b.value, "detail": d, "at": now} for s, a, b, d in rows],
    )


async def record_submitted(engine: AsyncEngine, owner: str, done: Sequence[Submitted]) -> list[str]:
    """queued → submitted for the messages this owner still holds; stores carrier id → smsid and applies
    receipts that arrived before the submit was recorded. Returns the smsids that were recorded."""
    if not done:
        return []
    done = [Submitted(d.smsid, d.channel, tuple(canonical_id(c) for c in d.carrier_ids)) for d in done]
    now = now_ms()
    async with engine.begin() as conn:
        held = {
            r.smsid for r in await conn.execute(select(messages.c.smsid).where(*_held(owner, [d.smsid for d in done])))
        }
        rows = [d for d in done if d.smsid in held]
        if not rows:
            return []
        await conn.execute(
            update(messages)
            .where(messages.c.smsid == bindparam("b_smsid"), messages.c.state == S.QUEUED.value)
            .values(
                state=S.SUBMITTED.value,
                channel=bindparam("b_channel"),
                parts=bindparam("b_parts"),
                submitted_at=now,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
                last_error=None,
            ),
            [{"b_smsid": d.smsid, "b_channel": d.channel, "b_parts": len(d.carrier_ids)} for d in rows],
        )
        await conn.execute(
            insert(carrier_ids),
            [
                {"channel": d.channel, "carrier_msg_id": cid, "smsid": d.smsid, "part": i, "created_at": now}
                for d in rows
                for i, cid in enumerate(d.carrier_ids, 1)
            ],
        )
        await _events(conn, [(d.smsid, S.QUEUED, S.SUBMITTED, d.channel) for d in rows], now)
        keys = [(d.channel, key) for d in rows for cid in d.carrier_ids for key in lookup_order(cid)]
        early = list(
            await conn.execute(
                select(pending_receipts).where(
                    tuple_(pending_receipts.c.channel, pending_receipts.c.carrier_msg_id).in_(keys)
                )
            )
        )
        if early:
            await conn.execute(pending_receipts.delete().where(pending_receipts.c.id.in_([r.id for r in early])))
            await _apply(conn, [ReceiptIn(r.channel, r.carrier_msg_id, r.stat, r.err, r.done_at) for r in early], now)
    return [d.smsid for d in rows]


def _held(owner: str, smsids: list[str]) -> tuple:
    """Rows still queued under ``owner``'s lease: a worker whose lease expired changes nothing."""
    return messages.c.smsid.in_(smsids), messages.c.state == S.QUEUED.value, messages.c.lease_owner == owner


async def record_retry(engine: AsyncEngine, owner: str, smsids: Iterable[str], next_at: int, error: str) -> None:
    """Give the lease back and try again at ``next_at`` (state stays queued)."""
    smsids = list(smsids)
    if not smsids:
        return
    async with engine.begin() as conn:
        await conn.execute(
            update(messages)
            .where(*_held(owner, smsids))
            .values(
                lease_owner=None,
                lease_expires_at=None,
                next_attempt_at=next_at,
                last_error=error[:500],
                updated_at=now_ms(),
                submit_started_at=None,
            )
        )


async def mark_submitting(engine: AsyncEngine, owner: str, smsids: Sequence[str], now: int | None = None) -> set[str]:
    """Durably note that these messages' submit_sm may leave now; returns the smsids this owner still holds
    (the others must not be sent: another worker has them)."""
    if not smsids:
        return set()
    now = now or now_ms()
    held: set[str] = set()
    async with engine.begin() as conn:
        for i in range(0, len(smsids), 500):
            chunk = list(smsids[i : i + 500])
            res = await conn.execute(
                update(messages).where(*_held(owner, chunk)).values(submit_started_at=now).returning(messages.c.smsid)
            )
            held.update(r.smsid for r in res)
    return held


async def record_failed(engine: AsyncEngine, owner: str, smsids: Iterable[str], state: S, error: str) -> list[str]:
    """queued → failed/rejected (no carrier will deliver it) and refund, in one transaction."""
    check(S.QUEUED, state)
    smsids = list(smsids)
    if not smsids:
        return []
    now = now_ms()
    async with engine.begin() as conn:
        rows = list(
            await conn.execute(
                update(messages)
                .where(*_held(owner, smsids))
                .values(
                    state=state.value,
                    last_error=error[:500],
                    done_at=now,
                    updated_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                .returning(messages.c.smsid, messages.c.account_id, messages.c.segments, messages.c.mobile)
            )
        )
        if rows:
            await _events(conn, [(r.smsid, S.QUEUED, state, error[:200]) for r in rows], now)
            stat = "REJECTD" if state is S.REJECTED else "UNDELIV"
            await _push_receipts(conn, [(r.smsid, r.account_id, r.mobile, stat) for r in rows], now)
            await _refund(conn, [(r.smsid, r.account_id, r.segments) for r in rows], now, note=error[:200])
    return [r.smsid for r in rows]


async def _push_receipts(conn: AsyncConnection, rows: Sequence[tuple[str, int, str, str]], now: int) -> None:
    """Outbox rows for the receipt pushes of final messages, in the transaction of the state change."""
    await outbox.enqueue_events(
        conn,
        [
            outbox.Event(
                account_id, "receipt", smsid, receipt_fields(mobile=mobile, smsid=smsid, stat=stat, at_ms=now), now
            )
            for smsid, account_id, mobile, stat in rows
        ],
    )


async def _refund(conn: AsyncConnection, rows: Sequence[tuple[str, int, int]], now: int, note: str) -> None:
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


async def apply_receipts(engine: AsyncEngine, receipts: Sequence[ReceiptIn]) -> None:
    """Store a batch of carrier receipts durably; unknown carrier ids wait in ``pending_receipts``."""
    if not receipts:
        return
    async with engine.begin() as conn:
        await _apply(conn, receipts, now_ms())


async def _resolve(
    conn: AsyncConnection, receipts: Sequence[ReceiptIn]
) -> tuple[list[tuple[ReceiptIn, str]], list[ReceiptIn]]:
    """Split receipts into (matched with their smsid, unknown); a matched receipt carries the stored spelling.

    The receipt's own spelling is tried first, then the other-base spellings; a submit still waiting for its
    receipt wins over one that already has a status (a repeated receipt), so an id that means different
    messages in the two bases goes to the one that is open.
    """
    receipts = [ReceiptIn(r.channel, canonical_id(r.carrier_msg_id), r.stat, r.err, r.done_at) for r in receipts]
    keys = list({(r.channel, key) for r in receipts for key in lookup_order(r.carrier_msg_id)})
    known: dict[tuple[str, str], tuple[str, bool]] = {}  # (channel, id) → (smsid, still waiting for a receipt)
    for i in range(0, len(keys), 500):
        for row in await conn.execute(
            select(carrier_ids.c.channel, carrier_ids.c.carrier_msg_id, carrier_ids.c.smsid, carrier_ids.c.stat).where(
                tuple_(carrier_ids.c.channel, carrier_ids.c.carrier_msg_id).in_(keys[i : i + 500])
            )
        ):
            known[(row.channel, row.carrier_msg_id)] = (row.smsid, row.stat is None)
    matched: list[tuple[ReceiptIn, str]] = []
    unknown: list[ReceiptIn] = []
    for r in receipts:
        found = [key for key in lookup_order(r.carrier_msg_id) if (r.channel, key) in known]
        if not found:
            unknown.append(r)
            continue
        best = next((key for key in found if known[(r.channel, key)][1]), found[0])
        matched.append((ReceiptIn(r.channel, best, r.stat, r.err, r.done_at), known[(r.channel, best)][0]))
    return matched, unknown


async def _apply(conn: AsyncConnection, receipts: Sequence[ReceiptIn], now: int) -> None:
    matched, unknown = await _resolve(conn, receipts)
    if unknown:
        rows = []
        for r in unknown:
            alts = id_aliases(r.carrier_msg_id)
            rows.append(
                {
                    "channel": r.channel,
                    "carrier_msg_id": r.carrier_msg_id,
                    "carrier_msg_id_alt1": alts[0] if alts else None,
                    "carrier_msg_id_alt2": alts[1] if len(alts) > 1 else None,
                    "stat": r.stat,
                    "err": r.err,
                    "done_at": r.done_at,
                    "received_at": now,
                }
            )
        await conn.execute(insert(pending_receipts), rows)
    if not matched:
        return
    await conn.execute(
        update(carrier_ids)
        .where(carrier_ids.c.channel == bindparam("b_ch"), carrier_ids.c.carrier_msg_id == bindparam("b_id"))
        .values(stat=bindparam("b_stat"), err=bindparam("b_err")),
        [{"b_ch": r.channel, "b_id": r.carrier_msg_id, "b_stat": r.stat, "b_err": r.err} for r, _ in matched],
    )
    smsids = sorted({smsid for _, smsid in matched})
    parts: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
    for row in await conn.execute(
        select(carrier_ids.c.smsid, carrier_ids.c.part, carrier_ids.c.stat).where(carrier_ids.c.smsid.in_(smsids))
    ):
        parts[row.smsid].append((row.part, row.stat))
    finals: list[tuple[str, S, str]] = []
    for smsid, got in parts.items():
        stats = [stat for _, stat in sorted(got)]
        if any(stat is None for stat in stats):
            continue  # wait for every part's receipt
        infos = [describe(stat or "") for stat in stats]
        failed = next((i for i in infos if i.state is not S.DELIVERED), None)
        if failed is None:
            finals.append((smsid, S.DELIVERED, infos[0].code))
        elif failed.state in FAILED_FINAL:
            finals.append((smsid, failed.state, failed.code))
    if finals:
        await finish(conn, finals, now)


async def finish(conn: AsyncConnection, finals: Sequence[tuple[str, S, str]], now: int) -> list[str]:
    """submitted → final state with the carrier status; failures are refunded. Returns smsids changed."""
    wanted: dict[str, tuple[S, str]] = {}
    for smsid, state, stat in finals:
        check(S.SUBMITTED, state)
        wanted[smsid] = (state, stat)
    # Lock the rows (PostgreSQL; SQLite's writer already holds the database lock) so a receipt applied
    # twice concurrently cannot refund twice: only rows still `submitted` are changed.
    rows = list(
        await conn.execute(
            select(messages.c.smsid, messages.c.account_id, messages.c.segments, messages.c.mobile)
            .where(messages.c.smsid.in_(list(wanted)), messages.c.state == S.SUBMITTED.value)
            .with_for_update(of=messages)
        )
    )
    changed = [(r.smsid, r.account_id, r.segments, *wanted[r.smsid]) for r in rows]
    await _push_receipts(conn, [(r.smsid, r.account_id, r.mobile, wanted[r.smsid][1]) for r in rows], now)
    if changed:
        await conn.execute(
            update(messages)
            .where(messages.c.smsid == bindparam("b_smsid"), messages.c.state == S.SUBMITTED.value)
            .values(state=bindparam("b_state"), carrier_status=bindparam("b_stat"), done_at=now, updated_at=now),
            [{"b_smsid": s, "b_state": st.value, "b_stat": stat} for s, _, _, st, stat in changed],
        )
    if not changed:
        return []
    await _events(conn, [(s, S.SUBMITTED, st, stat) for s, _, _, st, stat in changed], now)
    refunds = [(s, a, n) for s, a, n, st, _ in changed if st is not S.DELIVERED]
    if refunds:
        await _refund(conn, refunds, now, note="carrier reported failure")
    return [c[0] for c in changed]


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
    await _events(conn, [(smsid, source, target, detail)], now)


async def reconcile_pending(engine: AsyncEngine, limit: int = 1000) -> int:
    """Apply kept receipts whose carrier id is now known. Closes the race where a receipt and the record
    of its submit commit concurrently (each transaction missing the other's row); returns how many."""
    async with engine.begin() as conn:
        rows = list(
            await conn.execute(
                select(pending_receipts)
                .join(
                    carrier_ids,
                    and_(
                        carrier_ids.c.channel == pending_receipts.c.channel,
                        or_(
                            carrier_ids.c.carrier_msg_id == pending_receipts.c.carrier_msg_id,
                            carrier_ids.c.carrier_msg_id == pending_receipts.c.carrier_msg_id_alt1,
                            carrier_ids.c.carrier_msg_id == pending_receipts.c.carrier_msg_id_alt2,
                        ),
                    ),
                )
                .order_by(pending_receipts.c.id)
                .limit(limit)
                .with_for_update(of=pending_receipts, skip_locked=True)
            )
        )
        if not rows:
            return 0
        rows = list({r.id: r for r in rows}.values())  # a row joined under two spellings comes once
        await conn.execute(pending_receipts.delete().where(pending_receipts.c.id.in_([r.id for r in rows])))
        await _apply(conn, [ReceiptIn(r.channel, r.carrier_msg_id, r.stat, r.err, r.done_at) for r in rows], now_ms())
    return len(rows)


async def expire_overdue(
    engine: AsyncEngine, *, timeout_ms: int, skip_locked: bool, limit: int = 500, now: int | None = None
) -> list[str]:
    """submitted → expired for messages whose receipt has not come within ``timeout_ms`` of the submit: refund,
    receipt push (stat ``HY:TIMEOUT``), one batch per call. A receipt arriving later changes nothing."""
    now = now or now_ms()
    pick = (
        select(messages.c.smsid)
        .where(messages.c.state == S.SUBMITTED.value, messages.c.submitted_at < now - timeout_ms)
        .order_by(messages.c.submitted_at)
        .limit(limit)
    )
    if skip_locked:
        pick = pick.with_for_update(skip_locked=True)
    async with engine.begin() as conn:
        smsids = [r.smsid for r in await conn.execute(pick)]
        if not smsids:
            return []
        return await finish(conn, [(s, S.EXPIRED, RECEIPT_TIMEOUT) for s in smsids], now)


@dataclass(frozen=True, slots=True)
class UnparsedIn:
    channel: str
    command: str
    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    payload_hex: str
    tlvs: str  # JSON
    reason: str
    received_at: int


async def store_unparsed(engine: AsyncEngine, rows: Sequence[UnparsedIn]) -> None:
    """Keep deliver_sm/data_sm nobody could understand, for the operator (``unparsed_deliveries``)."""
    if not rows:
        return
    async with engine.begin() as conn:
        await conn.execute(
            insert(unparsed_deliveries),
            [
                {
                    "channel": r.channel,
                    "command": r.command,
                    "source_addr": r.source_addr[:32],
                    "destination_addr": r.destination_addr[:32],
                    "esm_class": r.esm_class,
                    "data_coding": r.data_coding,
                    "payload_hex": r.payload_hex,
                    "tlvs": r.tlvs,
                    "reason": r.reason,
                    "received_at": r.received_at,
                }
                for r in rows
            ],
        )
