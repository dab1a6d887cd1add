"""The operators' account list: search by API ID or name, filter by state, with certification status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.store.tables import accounts, certifications


def _latest_certification():
    """The state of each account's newest certification submission (NULL when none)."""
    newest = (
        select(certifications.c.state)
        .where(certifications.c.account_id == accounts.c.id)
        .order_by(certifications.c.id.desc())
        .limit(1)
        .correlate(accounts)
        .scalar_subquery()
    )
    return newest.label("certification")


async def search(
    conn: AsyncConnection, *, q: str | None, state: str | None, page: int, per_page: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of accounts, newest first, and the total count."""
    cond: list[Any] = []
    if q:
        term = q.strip()
        like = f"%{term.replace('%', '').replace('_', '')}%"
        cond.append(or_(accounts.c.api_id == term.upper(), accounts.c.name.like(like)))
    if state:
        cond.append(accounts.c.state == state)
    total = int((await conn.execute(select(func.count()).select_from(accounts).where(*cond))).scalar_one())
    rows = await conn.execute(
        select(
            accounts.c.id,
            accounts.c.api_id,
            accounts.c.name,
            accounts.c.state,
            accounts.c.balance,
            accounts.c.default_signature,
            accounts.c.channel_group,
            accounts.c.limit_daily,
            accounts.c.limit_daily_codes,
            accounts.c.limit_daily_ceiling,
            accounts.c.created_at,
            _latest_certification(),
        )
        .where(*cond)
        .order_by(accounts.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return [dict(r._mapping) for r in rows], total
