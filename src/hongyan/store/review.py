"""Review queues: signatures and templates waiting for an operator (with their account), oldest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.domain.states import ReviewState
from hongyan.store.clock import now_ms
from hongyan.store.tables import accounts, signatures, templates


async def signature_queue(conn: AsyncConnection, state: str | None = ReviewState.PENDING.value) -> list[dict[str, Any]]:
    q = (
        select(signatures, accounts.c.api_id, accounts.c.name.label("account_name"))
        .select_from(signatures.join(accounts, accounts.c.id == signatures.c.account_id))
        .order_by(signatures.c.created_at, signatures.c.id)
    )
    if state:
        q = q.where(signatures.c.state == state)
    return [dict(r._mapping) for r in await conn.execute(q)]


async def template_queue(conn: AsyncConnection, state: str | None = ReviewState.PENDING.value) -> list[dict[str, Any]]:
    """Customer templates only (the built-in default template is not reviewable)."""
    q = (
        select(templates, accounts.c.api_id, accounts.c.name.label("account_name"))
        .select_from(templates.join(accounts, accounts.c.id == templates.c.account_id))
        .order_by(templates.c.created_at, templates.c.id)
    )
    if state:
        q = q.where(templates.c.state == state)
    return [dict(r._mapping) for r in await conn.execute(q)]


async def drop_default_signature(conn: AsyncConnection, signature_id: int) -> None:
    """After a signature is rejected: if it was its account's default, the next approved one (or none) is."""
    sig = (
        await conn.execute(select(signatures.c.account_id, signatures.c.text).where(signatures.c.id == signature_id))
    ).one()
    successor = (
        await conn.execute(
            select(signatures.c.text)
            .where(
                signatures.c.account_id == sig.account_id,
                signatures.c.state == ReviewState.APPROVED.value,
                signatures.c.id != signature_id,
            )
            .order_by(signatures.c.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    await conn.execute(
        update(accounts)
        .where(and_(accounts.c.id == sig.account_id, accounts.c.default_signature == sig.text))
        .values(default_signature=successor, updated_at=now_ms())
    )
