"""Receipts: match carrier receipts to their messages and apply them (final state, refund, push), keep those
whose carrier id is not known yet in ``pending_receipts`` and reconcile them, expire messages whose receipt never
came, and keep deliver_sm nobody could understand (``unparsed_deliveries``); list both kept kinds for the operator.

Carrier ids are stored canonical (``hongyan.domain.carrier_ids``) and a receipt is matched under its id and the
id's other-base spellings (hex ↔ decimal). The writes go through a ``Writer`` (an engine, or the process's
shared delivery transaction, ``store.txgroup``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.domain.carrier_ids import canonical_id, id_aliases, lookup_order
from hongyan.domain.carrier_status import RECEIPT_TIMEOUT, describe
from hongyan.domain.receipt_match import mobile_key
from hongyan.domain.states import MessageState as S
from hongyan.domain.transitions import FAILED_FINAL
from hongyan.store.clock import now_ms
from hongyan.store.prepared import Prepared, run
from hongyan.store.tables import carrier_ids, messages, pending_receipts, unparsed_deliveries
from hongyan.store.transitions import Finished, finish
from hongyan.store.txgroup import Writer, write


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4x; made per message
class ReceiptIn:
    channel: str
    carrier_msg_id: str
    stat: str
    err: str | None = None
    done_at: int | None = None
    mobile: str | None = None  # the handset (deliver_sm source_addr); kept with an unknown id, see dispatch.settle


_KNOWN = Prepared(
    select(carrier_ids.c.carrier_msg_id, carrier_ids.c.smsid, carrier_ids.c.stat).where(
        carrier_ids.c.channel == bindparam("b_channel"),
        carrier_ids.c.carrier_msg_id.in_(bindparam("b_ids", expanding=True)),
    )
)
_RECEIPT_STAT = Prepared(
    update(carrier_ids)
    .where(carrier_ids.c.channel == bindparam("b_ch"), carrier_ids.c.carrier_msg_id == bindparam("b_id"))
    .values(stat=bindparam("b_stat"), err=bindparam("b_err"))
)
_PARTS = Prepared(
    select(carrier_ids.c.smsid, carrier_ids.c.part, carrier_ids.c.stat).where(
        carrier_ids.c.smsid.in_(bindparam("b_smsids", expanding=True))
    )
)


async def apply_receipts(engine: Writer, receipts: Sequence[ReceiptIn]) -> list[Finished]:
    """Store a batch of carrier receipts durably; unknown carrier ids wait in ``pending_receipts``. Returns the
    messages the batch finished (committed)."""
    if not receipts:
        return []
    return await write(engine, lambda conn: apply_in(conn, receipts, now_ms()))


async def _resolve(
    conn: AsyncConnection, receipts: Sequence[ReceiptIn]
) -> tuple[list[tuple[ReceiptIn, str]], list[ReceiptIn]]:
    """Split receipts into (matched with their smsid, unknown); a matched receipt carries the stored spelling.

    The receipt's own spelling is tried first, then the other-base spellings; a submit still waiting for its
    receipt wins over one that already has a status (a repeated receipt), so an id that means different
    messages in the two bases goes to the one that is open.
    """
    receipts = [
        ReceiptIn(r.channel, canonical_id(r.carrier_msg_id), r.stat, r.err, r.done_at, r.mobile) for r in receipts
    ]
    # A plain IN per channel: SQLite answers it from the primary key; a row-value IN of pairs scans the table.
    by_channel: dict[str, set[str]] = defaultdict(set)
    for r in receipts:
        by_channel[r.channel].update(lookup_order(r.carrier_msg_id))
    known: dict[tuple[str, str], tuple[str, bool]] = {}  # (channel, id) → (smsid, still waiting for a receipt)
    for channel, ids in by_channel.items():
        keys = sorted(ids)
        for i in range(0, len(keys), 500):
            for row in await run(conn, _KNOWN, {"b_channel": channel, "b_ids": keys[i : i + 500]}):
                known[(channel, row.carrier_msg_id)] = (row.smsid, row.stat is None)
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


async def apply_in(conn: AsyncConnection, receipts: Sequence[ReceiptIn], now: int) -> list[Finished]:
    """Apply receipts in the caller's transaction: matched ones finish their message once every part has its
    receipt; unknown ones are kept in ``pending_receipts``. Returns the messages finished."""
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
                    "mobile": mobile_key(r.mobile) if r.mobile else None,
                }
            )
        await conn.execute(insert(pending_receipts), rows)
    if not matched:
        return []
    await run(
        conn,
        _RECEIPT_STAT,
        [{"b_ch": r.channel, "b_id": r.carrier_msg_id, "b_stat": r.stat, "b_err": r.err} for r, _ in matched],
    )
    smsids = sorted({smsid for _, smsid in matched})
    parts: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
    for row in await run(conn, _PARTS, {"b_smsids": smsids}):
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
    return await finish(conn, finals, now) if finals else []


async def reconcile_pending(engine: Writer, limit: int = 1000, *, finished: list[Finished] | None = None) -> int:
    """Apply kept receipts whose carrier id is now known. Closes the race where a receipt and the record
    of its submit commit concurrently (each transaction missing the other's row); returns how many. The messages
    this finished are appended to ``finished`` after the commit."""
    count, done = await write(engine, lambda conn: _reconcile_in(conn, limit))
    if finished is not None:
        finished.extend(done)
    return count


async def _reconcile_in(conn, limit: int) -> tuple[int, list[Finished]]:
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
        return 0, []
    rows = list({r.id: r for r in rows}.values())  # a row joined under two spellings comes once
    await conn.execute(pending_receipts.delete().where(pending_receipts.c.id.in_([r.id for r in rows])))
    done = await apply_in(
        conn, [ReceiptIn(r.channel, r.carrier_msg_id, r.stat, r.err, r.done_at) for r in rows], now_ms()
    )
    return len(rows), done


async def expire_overdue(
    engine: Writer, *, timeout_ms: int, skip_locked: bool, limit: int = 500, now: int | None = None
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

    async def work(conn) -> list[str]:
        smsids = [r.smsid for r in await conn.execute(pick)]
        if not smsids:
            return []
        return [f.smsid for f in await finish(conn, [(s, S.EXPIRED, RECEIPT_TIMEOUT) for s in smsids], now)]

    return await write(engine, work)


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


async def store_unparsed(engine: Writer, rows: Sequence[UnparsedIn]) -> None:
    """Keep deliver_sm/data_sm nobody could understand, for the operator (``unparsed_deliveries``)."""
    if rows:
        await write(engine, lambda conn: _store_unparsed_in(conn, rows))


async def _store_unparsed_in(conn, rows: Sequence[UnparsedIn]) -> None:
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


async def list_unparsed(conn: AsyncConnection, limit: int = 100) -> list[dict[str, Any]]:
    """The newest kept deliveries nobody could understand, newest first."""
    stmt = select(unparsed_deliveries).order_by(unparsed_deliveries.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in await conn.execute(stmt)]


async def list_pending(conn: AsyncConnection, limit: int = 100) -> list[dict[str, Any]]:
    """Receipts still waiting for their carrier id to be known, oldest first."""
    stmt = select(pending_receipts).order_by(pending_receipts.c.id).limit(limit)
    return [dict(r._mapping) for r in await conn.execute(stmt)]
