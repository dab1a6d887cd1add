"""The dispatcher's records: lease due messages, mark submits about to leave, record submits, retries and
failures. Only the lease holder changes a row (``… AND lease_owner = ?``); a worker whose lease expired changes
nothing.

Before a submit_sm may leave, the dispatcher durably marks the message (``mark_submitting``); a message leased
again with that mark set was in flight when its worker died (see docs/decisions/0002-submit-crash-window.md).
Recording a submit stores its carrier ids (canonical, ``hongyan.domain.carrier_ids``) and applies receipts that
arrived before it.

Each function writes through a ``Writer``: an engine (a transaction of its own) or a ``store.txgroup.TxGroup`` (the
process's shared delivery transaction); the ``*_in`` forms run inside a transaction the caller holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, or_, select, update

from hongyan.domain.carrier_ids import canonical_id, lookup_order
from hongyan.domain.receipt_match import mobile_key
from hongyan.domain.states import MessageState as S
from hongyan.domain.transitions import check
from hongyan.store.clock import now_ms
from hongyan.store.prepared import Prepared, run
from hongyan.store.receipts import ReceiptIn, apply_in
from hongyan.store.tables import carrier_ids, messages, pending_receipts
from hongyan.store.transitions import Finished, push_receipts, record_events, refund
from hongyan.store.txgroup import Writer, write

INTERRUPTED = "resent after an interrupted submit (possible duplicate at the carrier)"


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4x; made per message
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


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4x; made per message
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


def _lease(state: S, skip_locked: bool) -> Prepared:
    """Up to ``b_limit`` due messages in ``state`` marked queued under ``b_owner``'s lease until ``b_expires``,
    returning ``_DUE_COLUMNS``. A leased row is next due when its lease ends (``next_attempt_at`` = the lease's end,
    renewed with it), so the due range of the (state, next_attempt_at) index holds no row in flight: each lease reads
    only the rows it takes, in index order, instead of every leased row (checking its lease) and the whole backlog
    of accepted ones (sorting it by id) as the one statement over both states did."""
    now = bindparam("b_now")
    due = [messages.c.state == state.value, messages.c.next_attempt_at <= now]
    if state is S.QUEUED:  # a dead worker's row, or one given back (retry, in doubt, held)
        due.append(or_(messages.c.lease_expires_at.is_(None), messages.c.lease_expires_at < now))
    # accepted rows have next_attempt_at 0: index order is then id order (first come, first sent)
    pick = select(messages.c.id).where(*due).order_by(messages.c.next_attempt_at, messages.c.id)
    pick = pick.limit(bindparam("b_limit"))
    if skip_locked:
        pick = pick.with_for_update(skip_locked=True)
    return Prepared(
        update(messages)
        .where(messages.c.id.in_(pick.scalar_subquery()))
        .values(
            state=S.QUEUED.value,
            lease_owner=bindparam("b_owner"),
            lease_expires_at=bindparam("b_expires"),
            next_attempt_at=bindparam("b_expires"),
            attempts=messages.c.attempts + 1,
            updated_at=now,
        )
        .returning(*_DUE_COLUMNS)
    )


# (state, skip_locked) → statement: queued rows due again are leased first, so a backlog of new messages cannot
# starve retries and a dead worker's messages.
_LEASES = {(state, locked): _lease(state, locked) for state in (S.QUEUED, S.ACCEPTED) for locked in (False, True)}


async def lease_due(
    engine: Writer, *, owner: str, limit: int, lease_ms: int, skip_locked: bool, now: int | None = None
) -> list[DueMessage]:
    """Take up to ``limit`` due messages: queued ones due again (a dead worker's, or given back for a retry),
    then accepted ones. They are marked queued under this owner's lease; first leases get an event row."""
    now = now or now_ms()
    params = {"b_now": now, "b_limit": limit, "b_owner": owner, "b_expires": now + lease_ms}

    async def work(conn) -> list[DueMessage]:
        rows = [DueMessage(*r) for r in await run(conn, _LEASES[(S.QUEUED, skip_locked)], params)]
        if len(rows) < limit:
            more = {**params, "b_limit": limit - len(rows)}
            rows += [DueMessage(*r) for r in await run(conn, _LEASES[(S.ACCEPTED, skip_locked)], more)]
        first = [r for r in rows if r.attempts == 1]
        if first:
            await record_events(conn, [(r.smsid, S.ACCEPTED, S.QUEUED, None) for r in first], now)
        return rows

    rows = await write(engine, work)
    rows.sort(key=lambda r: r.id)
    return rows


async def record_submitted(
    engine: Writer, owner: str, done: Sequence[Submitted], *, finished: list[Finished] | None = None
) -> list[str]:
    """queued → submitted for the messages this owner still holds; stores carrier id → smsid and applies
    receipts that arrived before the submit was recorded. Returns the smsids that were recorded."""
    if not done:
        return []
    recorded, ended = await write(engine, lambda conn: record_submitted_in(conn, owner, done, now_ms()))
    if finished is not None:
        finished.extend(ended)  # the caller counts them only now that the commit succeeded
    return recorded


async def record_submitted_in(
    conn, owner: str, done: Sequence[Submitted], now: int
) -> tuple[list[str], list[Finished]]:
    """:func:`record_submitted` in the caller's transaction: (smsids recorded, messages early receipts finished)."""
    done = [Submitted(d.smsid, d.channel, tuple(canonical_id(c) for c in d.carrier_ids)) for d in done]
    # One UPDATE … RETURNING per (channel, parts) of the batch, on the rows this owner still holds: the state
    # change tells which rows were held (no SELECT first, no statement per row).
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    for d in done:
        groups[(d.channel, len(d.carrier_ids))].append(d.smsid)
    held: set[str] = set()
    for (channel, parts), smsids in groups.items():
        params = {"b_smsids": smsids, "b_owner": owner, "b_channel": channel, "b_parts": parts, "b_now": now}
        held.update(r.smsid for r in await run(conn, _SUBMITTED_HELD, params))
    rows = [d for d in done if d.smsid in held]
    if not rows:
        return [], []
    await _record_submitted_rows(conn, [(d.smsid, d.channel, d.carrier_ids, d.channel) for d in rows], now)
    by_channel: dict[str, list[str]] = defaultdict(list)
    for d in rows:
        by_channel[d.channel].extend(key for cid in d.carrier_ids for key in lookup_order(cid))
    early = await pending_for(conn, by_channel)
    if not early:
        return [d.smsid for d in rows], []
    await conn.execute(pending_receipts.delete().where(pending_receipts.c.id.in_([r.id for r in early])))
    ended = await apply_in(conn, [ReceiptIn(r.channel, r.carrier_msg_id, r.stat, r.err, r.done_at) for r in early], now)
    return [d.smsid for d in rows], ended


async def pending_for(conn, ids: Mapping[str, Sequence[str]]) -> list:
    """Kept receipts of these carrier ids (channel → ids): a plain ``IN`` per channel, which SQLite answers from
    the (channel, carrier_msg_id) index (a row-value ``IN`` of pairs scans the table)."""
    rows = []
    for channel, keys in ids.items():
        keys = sorted(set(keys))
        for i in range(0, len(keys), 500):
            rows += await run(conn, _PENDING_FOR, {"b_channel": channel, "b_ids": keys[i : i + 500]})
    return rows


async def _write_submitted(conn, rows: list[tuple[str, str, tuple[str, ...], int, str]], now: int) -> None:
    """queued → submitted for (smsid, channel, carrier ids, submitted_at, event detail) rows this owner holds:
    the state, the carrier id → smsid map (one row per part) and the event."""
    await run(
        conn,
        _SUBMITTED,
        [
            {"b_smsid": smsid, "b_channel": ch, "b_parts": len(ids), "b_at": at, "b_now": now}
            for smsid, ch, ids, at, _ in rows
        ],
    )
    await _record_submitted_rows(conn, [(smsid, ch, ids, detail) for smsid, ch, ids, _, detail in rows], now)


async def _record_submitted_rows(conn, rows: list[tuple[str, str, tuple[str, ...], str]], now: int) -> None:
    """For (smsid, channel, carrier ids, event detail) rows already set to submitted: the carrier id → smsid map
    (one row per part) and the event."""
    await run(
        conn,
        _CARRIER_IDS,
        [
            {"channel": ch, "carrier_msg_id": cid, "smsid": smsid, "part": i, "created_at": now}
            for smsid, ch, ids, _ in rows
            for i, cid in enumerate(ids, 1)
        ],
    )
    await record_events(conn, [(smsid, S.QUEUED, S.SUBMITTED, detail) for smsid, _, _, detail in rows], now)


# Rows still queued under the owner's lease (bind parameters b_smsids, b_owner): the condition of the prepared
# statements that change only what the worker holds.
_HELD_WHERE = (
    messages.c.smsid.in_(bindparam("b_smsids", expanding=True)),
    messages.c.state == S.QUEUED.value,
    messages.c.lease_owner == bindparam("b_owner"),
)
_PENDING_FOR = Prepared(
    select(pending_receipts).where(
        pending_receipts.c.channel == bindparam("b_channel"),
        pending_receipts.c.carrier_msg_id.in_(bindparam("b_ids", expanding=True)),
    )
)


def _to_submitted(submitted_at: str) -> dict:
    """queued → submitted: the channel, the parts, the time (the bind parameter named), and the lease let go."""
    return {
        "state": S.SUBMITTED.value,
        "channel": bindparam("b_channel"),
        "parts": bindparam("b_parts"),
        "submitted_at": bindparam(submitted_at),
        "updated_at": bindparam("b_now"),
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": None,
    }


_SUBMITTED = Prepared(
    update(messages)
    .where(messages.c.smsid == bindparam("b_smsid"), messages.c.state == S.QUEUED.value)
    .values(_to_submitted("b_at"))
)
_SUBMITTED_HELD = Prepared(  # the rows of one (channel, parts) still held by the owner, told by RETURNING
    update(messages).where(*_HELD_WHERE).values(_to_submitted("b_now")).returning(messages.c.smsid)
)
_MARK = Prepared(
    update(messages).where(*_HELD_WHERE).values(submit_started_at=bindparam("b_now")).returning(messages.c.smsid)
)
_MARK_CHANNEL = Prepared(
    update(messages)
    .where(*_HELD_WHERE)
    .values(submit_started_at=bindparam("b_now"), channel=bindparam("b_channel"))
    .returning(messages.c.smsid)
)
_CARRIER_IDS = Prepared(insert(carrier_ids), column_keys=("channel", "carrier_msg_id", "smsid", "part", "created_at"))


def _held(owner: str, smsids: list[str]) -> tuple:
    """Rows still queued under ``owner``'s lease: a worker whose lease expired changes nothing."""
    return messages.c.smsid.in_(smsids), messages.c.state == S.QUEUED.value, messages.c.lease_owner == owner


async def record_retry(engine: Writer, owner: str, smsids: Iterable[str], next_at: int, error: str) -> None:
    """Give the lease back and try again at ``next_at`` (state stays queued)."""
    smsids = list(smsids)
    if smsids:
        await write(engine, lambda conn: record_retry_in(conn, owner, smsids, next_at, error))


async def record_retry_in(conn, owner: str, smsids: list[str], next_at: int, error: str) -> None:
    """:func:`record_retry` in the caller's transaction."""
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


async def record_in_doubt(engine: Writer, owner: str, errors: Mapping[str, str], now: int | None = None) -> None:
    """The connection went away with these submits on the wire (smsid → error): give the lease back but keep the
    ``submit_started_at`` mark and channel, so the next lease settles each from its receipts
    (:func:`settle_interrupted`) instead of sending it again at once."""
    if not errors:
        return
    now = now or now_ms()
    await write(engine, lambda conn: record_in_doubt_in(conn, owner, errors, now))


async def record_in_doubt_in(conn, owner: str, errors: Mapping[str, str], now: int) -> None:
    """:func:`record_in_doubt` in the caller's transaction."""
    await conn.execute(
        update(messages)
        .where(
            messages.c.smsid == bindparam("b_smsid"),
            messages.c.state == S.QUEUED.value,
            messages.c.lease_owner == owner,
            messages.c.submit_started_at.is_not(None),
        )
        .values(
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=now,
            last_error=bindparam("b_error"),
            updated_at=now,
        ),
        [{"b_smsid": smsid, "b_error": error[:500]} for smsid, error in errors.items()],
    )


async def mark_submitting(
    engine: Writer, owner: str, smsids: Sequence[str] | Mapping[str, str | None], now: int | None = None
) -> set[str]:
    """Durably note that these messages' submit_sm may leave now, and on which channel (``smsids`` maps smsid →
    channel name; a plain sequence leaves the channel as it is); returns the smsids this owner still holds (the
    others must not be sent: another worker has them)."""
    if not smsids:
        return set()
    now = now or now_ms()
    by_channel: dict[str | None, list[str]] = defaultdict(list)
    for smsid in smsids:
        by_channel[smsids[smsid] if isinstance(smsids, Mapping) else None].append(smsid)

    async def work(conn) -> set[str]:
        held: set[str] = set()
        for channel, group in by_channel.items():
            stmt = _MARK if channel is None else _MARK_CHANNEL
            for i in range(0, len(group), 500):
                params = {"b_smsids": group[i : i + 500], "b_owner": owner, "b_now": now, "b_channel": channel}
                held.update(r.smsid for r in await run(conn, stmt, params))
        return held

    return await write(engine, work)


async def record_failed(engine: Writer, owner: str, smsids: Iterable[str], state: S, error: str) -> list[str]:
    """queued → failed/rejected (no carrier will deliver it) and refund, in one transaction."""
    check(S.QUEUED, state)
    smsids = list(smsids)
    if not smsids:
        return []
    return await write(engine, lambda conn: record_failed_in(conn, owner, smsids, state, error, now_ms()))


async def record_failed_in(conn, owner: str, smsids: list[str], state: S, error: str, now: int) -> list[str]:
    """:func:`record_failed` in the caller's transaction."""
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


# --- a dead worker's in-flight submits -------------------------------------------------------------------------

RECONCILED = "its receipt came for a submit a dead worker had in flight: recorded from the receipt, not sent again"
HOLD_STEP_MS = 1000  # a held message is looked at again this often until its wait ends
CLOCK_SLACK_MS = 60_000  # a receipt may be stamped this much before the mark (clocks of different processes)


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A message leased again with its ``submit_started_at`` mark set, and how many SMS parts it is sent as."""

    message: DueMessage
    parts: int


@dataclass(slots=True)
class Settled:
    resend: list[DueMessage] = field(default_factory=list)  # no receipt came within the wait: send again
    reconciled: list[str] = field(default_factory=list)  # recorded as submitted from their receipts
    held: list[str] = field(default_factory=list)  # given back until their receipt can come
    finished: list[Finished] = field(default_factory=list)  # final states the reconciled receipts set


async def settle_interrupted(
    engine: Writer,
    owner: str,
    items: Sequence[Interrupted],
    *,
    wait_ms: int,
    skip_locked: bool,
    now: int | None = None,
) -> Settled:
    """Decide, for messages a dead worker had in flight (leased by ``owner``), whether the carrier has them.

    The carrier id of such a submit was never recorded, so its receipt is kept in ``pending_receipts`` as unknown,
    with the handset it reports on. A message that finds receipts for its channel and handset, stamped after its
    mark, one per part, *was* accepted by the carrier: it is recorded ``submitted`` under those ids (submitted at
    its mark) and the receipts are applied, so it is not sent again. Without them it is given back (held) until
    ``wait_ms`` after its mark, looked at again every ``HOLD_STEP_MS``; after that it is sent again, flagged as a
    possible duplicate (the carrier may have it without a receipt yet). See
    docs/decisions/0002-submit-crash-window.md.
    """
    if not items:
        return Settled()
    now = now or now_ms()
    return await write(engine, lambda conn: _settle_in(conn, owner, items, wait_ms, skip_locked, now))


async def _settle_in(
    conn, owner: str, items: Sequence[Interrupted], wait_ms: int, skip_locked: bool, now: int
) -> Settled:
    out = Settled()  # made here: a transaction that fails is run again, from the start
    keys = sorted({mobile_key(i.message.mobile) for i in items})
    oldest = min(i.message.submit_started_at or now for i in items) - CLOCK_SLACK_MS
    pick = (
        select(pending_receipts)
        .where(pending_receipts.c.mobile.in_(keys), pending_receipts.c.received_at >= oldest)
        .order_by(pending_receipts.c.id)
    )
    if skip_locked:
        pick = pick.with_for_update(skip_locked=True)
    by_mobile: dict[str, list] = defaultdict(list)
    for row in await conn.execute(pick):
        by_mobile[row.mobile].append(row)
    used: set[int] = set()
    found: list[tuple[Interrupted, list]] = []  # (message, receipt rows of its parts, in part order)
    held: list[Interrupted] = []
    for item in sorted(items, key=lambda i: (i.message.submit_started_at or 0, i.message.id)):
        m = item.message
        started = m.submit_started_at or now
        rows = [
            r
            for r in by_mobile.get(mobile_key(m.mobile), [])
            if r.id not in used
            and (m.channel is None or r.channel == m.channel)
            and r.received_at >= started - CLOCK_SLACK_MS
        ]
        first_of: dict[tuple[str, str], object] = {}
        for r in rows:  # an SMSC repeats a receipt nobody acknowledged: one id, one part
            first_of.setdefault((r.channel, r.carrier_msg_id), r)
        parts = list(first_of.values())[: item.parts]
        if len(parts) == item.parts:
            taken = {(r.channel, r.carrier_msg_id) for r in parts}
            used.update(r.id for r in rows if (r.channel, r.carrier_msg_id) in taken)
            found.append((item, parts))
        elif now < started + wait_ms:
            held.append(item)
        else:
            out.resend.append(m)
    if found:
        out.finished = await _record_reconciled(conn, owner, found, used, now)
        out.reconciled = [item.message.smsid for item, _ in found]
    if held:
        for item in held:
            started = item.message.submit_started_at or now
            await conn.execute(
                update(messages)
                .where(*_held(owner, [item.message.smsid]))
                .values(
                    lease_owner=None,
                    lease_expires_at=None,
                    next_attempt_at=min(started + wait_ms, now + HOLD_STEP_MS),
                    attempts=messages.c.attempts - 1,  # holding is not an attempt
                    updated_at=now,
                )
            )
        out.held = [item.message.smsid for item in held]
    if out.resend:  # not a transition: an audit note that this message may reach the carrier twice
        await record_events(conn, [(m.smsid, S.QUEUED, S.QUEUED, INTERRUPTED) for m in out.resend], now)
    return out


async def _record_reconciled(
    conn, owner: str, found: list[tuple[Interrupted, list]], used: set[int], now: int
) -> list[Finished]:
    """queued → submitted from the receipts that prove the carrier took each message, then apply them."""
    smsids = [item.message.smsid for item, _ in found]
    held = {r.smsid for r in await conn.execute(select(messages.c.smsid).where(*_held(owner, smsids)))}
    found = [(item, parts) for item, parts in found if item.message.smsid in held]
    if not found:
        return []
    rows = [
        (item.message.smsid, parts[0].channel, tuple(r.carrier_msg_id for r in parts), item.message.submit_started_at)
        for item, parts in found
    ]
    await _write_submitted(conn, [(smsid, ch, ids, at or now, RECONCILED) for smsid, ch, ids, at in rows], now)
    await conn.execute(pending_receipts.delete().where(pending_receipts.c.id.in_(sorted(used))))
    receipts = [ReceiptIn(r.channel, r.carrier_msg_id, r.stat, r.err, r.done_at) for _, parts in found for r in parts]
    return await apply_in(conn, receipts, now)
