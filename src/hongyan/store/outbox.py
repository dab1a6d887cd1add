"""The push outbox: rows written with the state change that causes them, delivered at least once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hongyan.store.clock import now_ms
from hongyan.store.tables import outbox

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True, slots=True)
class Push:
    id: int
    account_id: int
    kind: str
    ref: str
    url: str
    fields: dict[str, str]
    attempts: int
    created_at: int


async def enqueue(conn: AsyncConnection, rows: Sequence[tuple[int, str, str, str, dict[str, str]]]) -> None:
    """(account_id, kind, ref, url, fields) — inside the caller's transaction."""
    if not rows:
        return
    now = now_ms()
    await conn.execute(
        insert(outbox),
        [
            {
                "account_id": a,
                "kind": k,
                "ref": r,
                "url": u,
                "payload": json.dumps(f, ensure_ascii=False),
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for a, k, r, u, f in rows
        ],
    )


async def lease(engine: AsyncEngine, *, owner: str, limit: int, lease_ms: int, skip_locked: bool) -> list[Push]:
    now = now_ms()
    due = and_(
        outbox.c.state == PENDING,
        outbox.c.next_attempt_at <= now,
        or_(outbox.c.lease_expires_at.is_(None), outbox.c.lease_expires_at < now),
    )
    pick = select(outbox.c.id).where(due).order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit)
    if skip_locked:
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        update(outbox)
        .where(outbox.c.id.in_(pick.scalar_subquery()))
        .values(lease_owner=owner, lease_expires_at=now + lease_ms, attempts=outbox.c.attempts + 1)
        .returning(
            outbox.c.id,
            outbox.c.account_id,
            outbox.c.kind,
            outbox.c.ref,
            outbox.c.url,
            outbox.c.payload,
            outbox.c.attempts,
            outbox.c.created_at,
        )
    )
    async with engine.begin() as conn:
        rows = list(await conn.execute(stmt))
    return [
        Push(r.id, r.account_id, r.kind, r.ref, r.url, json.loads(r.payload), r.attempts, r.created_at)
        for r in sorted(rows, key=lambda r: r.id)
    ]


async def record(
    engine: AsyncEngine, owner: str, delivered: Sequence[int], failed: Sequence[tuple[int, int | None, str]]
) -> None:
    """Mark delivered, or schedule the next attempt (``next_at``), or dead-letter (``next_at`` None)."""
    now = now_ms()
    async with engine.begin() as conn:
        if delivered:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(list(delivered)), outbox.c.lease_owner == owner)
                .values(state=DELIVERED, delivered_at=now, lease_owner=None, lease_expires_at=None, last_error=None)
            )
        if failed:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == bindparam("b_id"), outbox.c.lease_owner == owner)
                .values(
                    state=bindparam("b_state"),
                    next_attempt_at=bindparam("b_next"),
                    last_error=bindparam("b_err"),
                    lease_owner=None,
                    lease_expires_at=None,
                ),
                [
                    {
                        "b_id": i,
                        "b_state": PENDING if nxt is not None else DEAD,
                        "b_next": nxt or now,
                        "b_err": err[:500],
                    }
                    for i, nxt, err in failed
                ],
            )


async def list_rows(
    conn: AsyncConnection, *, state: str | None = None, account_id: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    q = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if state:
        q = q.where(outbox.c.state == state)
    if account_id is not None:
        q = q.where(outbox.c.account_id == account_id)
    return [dict(r._mapping) for r in await conn.execute(q)]


async def replay(conn: AsyncConnection, *, account_id: int | None = None, since_ms: int | None = None) -> int:
    """Dead letters back to pending, tried again from now with a fresh schedule."""
    cond = [outbox.c.state == DEAD]
    if account_id is not None:
        cond.append(outbox.c.account_id == account_id)
    if since_ms is not None:
        cond.append(outbox.c.created_at >= since_ms)
    res = await conn.execute(
        update(outbox).where(*cond).values(state=PENDING, attempts=0, next_attempt_at=now_ms(), last_error=None)
    )
    return res.rowcount
