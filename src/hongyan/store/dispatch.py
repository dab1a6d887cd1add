"""The dispatcher's records: lease due messages, mark submits about to leave, record submits, retries and
failures. Only the lease holder changes a row (``… AND lease_owner = ?``); a worker whose lease expired changes
nothing.

Before a submit_sm may leave, the dispatcher durably marks the message (``mark_submitting``); a message leased
again with that mark set was in flight when its worker died (see docs/decisions/0002-submit-crash-window.md).
Recording a submit stores its carrier ids (canonical, ``hongyan.domain.carrier_ids``) and applies receipts that
arrived before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.domain.carrier_ids import canonical_id, lookup_order
from hongyan.domain.states import MessageState as S
from hongyan.domain.transitions import check
from hongyan.store.clock import now_ms
from hongyan.store.receipts import ReceiptIn, apply_in
from hongyan.store.tables import carrier_ids, messages, pending_receipts
from hongyan.store.transitions import Finished, push_receipts, record_events, refund

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
            await record_events(conn, [(r.smsid, S.ACCEPTED, S.QUEUED, None) for r in first], now)
        interrupted = [r for r in rows if r.interrupted]
        if interrupted:  # not a transition: an audit note that this message may reach the carrier twice
            await record_events(conn, [(r.smsid, S.QUEUED, S.QUEUED, INTERRUPTED) for r in interrupted], now)
    rows.sort(key=lambda r: r.id)
    return rows


async def record_submitted(
    engine: AsyncEngine, owner: str, done: Sequence[Submitted], *, finished: list[Finished] | None = None
) -> list[str]:
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
        await record_events(conn, [(d.smsid, S.QUEUED, S.SUBMITTED, d.channel) for d in rows], now)
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
            ended = await apply_in(
                conn, [ReceiptIn(r.channel, r.carrier_msg_id, r.stat, r.err, r.done_at) for r in early], now
            )
            if finished is not None:
                finished.extend(ended)  # the caller counts them only if this commit succeeds
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
            await record_events(conn, [(r.smsid, S.QUEUED, state, error[:200]) for r in rows], now)
            stat = "REJECTD" if state is S.REJECTED else "UNDELIV"
            await push_receipts(conn, [(r.smsid, r.account_id, r.mobile, stat) for r in rows], now)
            await refund(conn, [(r.smsid, r.account_id, r.segments) for r in rows], now, note=error[:200])
    return [r.smsid for r in rows]
