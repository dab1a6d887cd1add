"""Per-account reads behind the customer's console pages: onboarding facts, templates, ledger history.

Every query is scoped by ``account_id``: a customer only ever sees its own rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.domain.states import ReviewState
from hongyan.store.tables import accounts, certifications, ledger, messages, signatures, templates


async def onboarding_facts(conn: AsyncConnection, account_id: int) -> dict[str, Any]:
    """What the onboarding checklist needs: state, sent anything, certification, bought, approved content."""
    account = (await conn.execute(select(accounts.c.state).where(accounts.c.id == account_id))).one()
    sent = (await conn.execute(select(exists().where(messages.c.account_id == account_id)))).scalar()
    bought = (
        await conn.execute(select(exists().where(ledger.c.account_id == account_id, ledger.c.package_id.is_not(None))))
    ).scalar()
    approved_sig = (
        await conn.execute(
            select(
                exists().where(signatures.c.account_id == account_id, signatures.c.state == ReviewState.APPROVED.value)
            )
        )
    ).scalar()
    pending_sig = (
        await conn.execute(
            select(
                exists().where(signatures.c.account_id == account_id, signatures.c.state == ReviewState.PENDING.value)
            )
        )
    ).scalar()
    cert = (
        await conn.execute(
            select(certifications.c.state)
            .where(certifications.c.account_id == account_id)
            .order_by(certifications.c.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return {
        "state": account.state,
        "sent": bool(sent),
        "bought": bool(bought),
        "approved_signature": bool(approved_sig),
        "pending_signature": bool(pending_sig),
        "certification": cert,
    }


async def templates_of(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    q = select(templates).where(templates.c.account_id == account_id).order_by(templates.c.id.desc())
    return [dict(r._mapping) for r in await conn.execute(q)]


async def ledger_page(
    conn: AsyncConnection, account_id: int, *, page: int = 1, per_page: int = 20
) -> tuple[list[dict[str, Any]], int]:
    """One page of the account's ledger rows, newest first, and the total count."""
    page, per_page = max(1, page), max(1, min(per_page, 200))
    total = (await conn.execute(select(func.count()).where(ledger.c.account_id == account_id))).scalar_one()
    q = (
        select(ledger)
        .where(ledger.c.account_id == account_id)
        .order_by(ledger.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return [dict(r._mapping) for r in await conn.execute(q)], int(total)
