"""Reading messages and their final states back (the pull side of receipts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.domain.transitions import FINAL
from hongyan.store.tables import messages

_COLUMNS = (
    messages.c.smsid,
    messages.c.mobile,
    messages.c.segments,
    messages.c.state,
    messages.c.carrier_status,
    messages.c.channel,
    messages.c.created_at,
    messages.c.submitted_at,
    messages.c.done_at,
)


async def get_message(conn: AsyncConnection, account_id: int, smsid: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(select(*_COLUMNS).where(messages.c.smsid == smsid, messages.c.account_id == account_id))
    ).first()
    return None if row is None else dict(row._mapping)


async def final_since(
    conn: AsyncConnection, account_id: int, since_ms: int, after_smsid: str, limit: int
) -> list[dict[str, Any]]:
    """Messages that reached a final state at or after ``since_ms``, oldest first; page with the last
    (done_at, smsid) seen."""
    q = (
        select(*_COLUMNS)
        .where(
            messages.c.account_id == account_id,
            messages.c.state.in_([s.value for s in FINAL]),
            or_(
                messages.c.done_at > since_ms,
                and_(messages.c.done_at == since_ms, messages.c.smsid > after_smsid),
            ),
        )
        .order_by(messages.c.done_at, messages.c.smsid)
        .limit(limit)
    )
    return [dict(r._mapping) for r in await conn.execute(q)]
