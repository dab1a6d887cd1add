"""Enterprise certification rows: one per submission; the newest is the account's status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.domain.certification import CertificationForm
from hongyan.domain.states import AccountState, ReviewState
from hongyan.store.accounts import NotFound
from hongyan.store.clock import now_ms
from hongyan.store.tables import accounts, certifications


async def insert_pending(conn: AsyncConnection, account_id: int, form: CertificationForm) -> int:
    now = now_ms()
    return (
        await conn.execute(
            insert(certifications).returning(certifications.c.id),
            {
                "account_id": account_id,
                "company_name": form.company_name,
                "licence_no": form.licence_no,
                "contact_name": form.contact_name,
                "contact_phone": form.contact_phone,
                "state": ReviewState.PENDING.value,
                "created_at": now,
                "updated_at": now,
            },
        )
    ).scalar_one()


async def latest(conn: AsyncConnection, account_id: int) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(certifications)
            .where(certifications.c.account_id == account_id)
            .order_by(certifications.c.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def get(conn: AsyncConnection, cert_id: int) -> dict[str, Any]:
    row = (await conn.execute(select(certifications).where(certifications.c.id == cert_id))).first()
    if row is None:
        raise NotFound(f"no certification {cert_id}")
    return dict(row._mapping)


async def decide(conn: AsyncConnection, cert_id: int, state: ReviewState, reason: str | None) -> bool:
    """Decide a pending submission; False when it is not pending (already decided by someone else)."""
    res = await conn.execute(
        update(certifications)
        .where(certifications.c.id == cert_id, certifications.c.state == ReviewState.PENDING.value)
        .values(state=state.value, reason=reason, updated_at=now_ms())
    )
    return res.rowcount == 1


async def queue(conn: AsyncConnection, state: str | None) -> list[dict[str, Any]]:
    """Submissions in ``state`` (all when None) with their account, oldest first."""
    q = (
        select(certifications, accounts.c.api_id, accounts.c.name.label("account_name"))
        .select_from(certifications.join(accounts, accounts.c.id == certifications.c.account_id))
        .order_by(certifications.c.created_at, certifications.c.id)
    )
    if state:
        q = q.where(certifications.c.state == state)
    return [dict(r._mapping) for r in await conn.execute(q)]


async def approved_accounts(conn: AsyncConnection, account_ids: list[int]) -> set[int]:
    """Which of these accounts have an approved certification."""
    if not account_ids:
        return set()
    q = select(certifications.c.account_id).where(
        certifications.c.account_id.in_(account_ids), certifications.c.state == ReviewState.APPROVED.value
    )
    return {r for (r,) in await conn.execute(q)}


async def go_live_if_test(conn: AsyncConnection, account_id: int) -> bool:
    """Move a test-mode account to live (frozen and live accounts are left as they are)."""
    res = await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id, accounts.c.state == AccountState.TEST.value)
        .values(state=AccountState.LIVE.value, updated_at=now_ms())
    )
    return res.rowcount == 1
