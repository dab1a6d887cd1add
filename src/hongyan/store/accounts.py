"""Accounts, signatures and templates: the queries behind the CLI, the API and the account cache."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.domain.account import AccountView, parse_ip_list
from hongyan.domain.states import AccountState, LedgerKind, ReviewState
from hongyan.domain.templates import Template, default_template
from hongyan.store.clock import now_ms
from hongyan.store.tables import accounts, ledger, signatures, templates


class NotFound(LookupError):
    """No such account, signature or template."""


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    api_id: str
    name: str
    apikey_enc: str
    state: str
    balance: int
    allowed_ips: str
    registered_ips: str
    default_signature: str | None
    require_template: bool
    receipt_url: str | None
    reply_url: str | None
    template_url: str | None
    limit_daily: int | None = None
    limit_daily_codes: int | None = None
    limit_daily_ceiling: int | None = None
    unit_price_micros: int | None = None
    channel_group: str | None = None


async def insert_account(
    conn: AsyncConnection, *, api_id: str, name: str, apikey_enc: str, state: AccountState, grant: int, note: str
) -> int:
    """Create an account and, when ``grant`` > 0, its opening ledger row (same transaction)."""
    now = now_ms()
    account_id = (
        await conn.execute(
            insert(accounts).returning(accounts.c.id),
            {
                "api_id": api_id,
                "name": name,
                "apikey_enc": apikey_enc,
                "state": state.value,
                "balance": grant,
                "created_at": now,
                "updated_at": now,
            },
        )
    ).scalar_one()
    if grant:
        kind = LedgerKind.GRANT if state is AccountState.TEST else LedgerKind.TOPUP
        await conn.execute(
            insert(ledger),
            {"account_id": account_id, "kind": kind.value, "amount": grant, "note": note, "created_at": now},
        )
    return account_id


async def get_account(conn: AsyncConnection, api_id: str) -> AccountRow:
    row = (
        await conn.execute(
            select(*[c for c in accounts.c if c.name not in ("created_at", "updated_at")]).where(
                accounts.c.api_id == api_id
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"no account {api_id}")
    return AccountRow(**row._mapping)


async def change_balance(
    conn: AsyncConnection,
    account_id: int,
    amount: int,
    kind: LedgerKind,
    note: str | None = None,
    smsid: str | None = None,
) -> int:
    """Add ``amount`` (negative to take) with its ledger row; returns the new balance. Never below zero."""
    cond = accounts.c.id == account_id
    if amount < 0:
        cond = and_(cond, accounts.c.balance >= -amount)
    res = await conn.execute(
        update(accounts)
        .where(cond)
        .values(balance=accounts.c.balance + amount, updated_at=now_ms())
        .returning(accounts.c.balance)
    )
    balance = res.scalar_one_or_none()
    if balance is None:
        raise ValueError("insufficient balance or no such account")
    await conn.execute(
        insert(ledger),
        {
            "account_id": account_id,
            "kind": kind.value,
            "amount": amount,
            "note": note,
            "smsid": smsid,
            "created_at": now_ms(),
        },
    )
    return balance


async def ledger_sum(conn: AsyncConnection, account_id: int) -> int:
    q = select(func.coalesce(func.sum(ledger.c.amount), 0)).where(ledger.c.account_id == account_id)
    return int((await conn.execute(q)).scalar_one())


async def update_account(conn: AsyncConnection, api_id: str, **values: Any) -> None:
    res = await conn.execute(update(accounts).where(accounts.c.api_id == api_id).values(**values, updated_at=now_ms()))
    if res.rowcount == 0:
        raise NotFound(f"no account {api_id}")


async def add_signature(
    conn: AsyncConnection, account_id: int, text: str, state: ReviewState, category: str = "notice"
) -> int:
    now = now_ms()
    return (
        await conn.execute(
            insert(signatures).returning(signatures.c.id),
            {
                "account_id": account_id,
                "text": text,
                "state": state.value,
                "category": category,
                "created_at": now,
                "updated_at": now,
            },
        )
    ).scalar_one()


async def review_signature(conn: AsyncConnection, signature_id: int, state: ReviewState, reason: str | None) -> None:
    row = (
        await conn.execute(
            update(signatures)
            .where(signatures.c.id == signature_id)
            .values(state=state.value, reason=reason, updated_at=now_ms())
            .returning(signatures.c.account_id, signatures.c.text)
        )
    ).first()
    if row is None:
        raise NotFound(f"no signature {signature_id}")
    if state is ReviewState.APPROVED:
        # The first approved signature becomes the account's default for content that carries none.
        await conn.execute(
            update(accounts)
            .where(and_(accounts.c.id == row.account_id, accounts.c.default_signature.is_(None)))
            .values(default_signature=row.text, updated_at=now_ms())
        )


async def add_template(
    conn: AsyncConnection, account_id: int, text: str, var_max_lengths: list[int], category: str = "notice"
) -> int:
    now = now_ms()
    return (
        await conn.execute(
            insert(templates).returning(templates.c.id),
            {
                "account_id": account_id,
                "text": text,
                "var_max_lengths": json.dumps(var_max_lengths),
                "category": category,
                "state": ReviewState.PENDING.value,
                "created_at": now,
                "updated_at": now,
            },
        )
    ).scalar_one()


async def review_template(conn: AsyncConnection, template_id: int, state: ReviewState, reason: str | None) -> int:
    """Approve or reject; returns the owning account id. The built-in template cannot be changed."""
    res = await conn.execute(
        update(templates)
        .where(and_(templates.c.id == template_id, templates.c.account_id.is_not(None)))
        .values(state=state.value, reason=reason, updated_at=now_ms())
        .returning(templates.c.account_id)
    )
    account_id = res.scalar_one_or_none()
    if account_id is None:
        raise NotFound(f"no template {template_id}")
    return account_id


async def list_templates(conn: AsyncConnection, state: str | None = None) -> list[dict[str, Any]]:
    q = select(templates, accounts.c.api_id).select_from(templates.outerjoin(accounts)).order_by(templates.c.id)
    if state:
        q = q.where(templates.c.state == state)
    return [dict(r._mapping) for r in await conn.execute(q)]


async def list_signatures(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    q = select(signatures).where(signatures.c.account_id == account_id).order_by(signatures.c.id)
    return [dict(r._mapping) for r in await conn.execute(q)]


async def load_view(conn: AsyncConnection, api_id: str, decrypt) -> AccountView | None:
    """Everything the pipeline needs about one account, in three small queries."""
    row = (await conn.execute(select(accounts).where(accounts.c.api_id == api_id))).first()
    if row is None:
        return None
    sigs = await conn.execute(
        select(signatures.c.text, signatures.c.category).where(
            and_(signatures.c.account_id == row.id, signatures.c.state == ReviewState.APPROVED.value)
        )
    )
    tpl_rows = await conn.execute(
        select(templates.c.id, templates.c.text, templates.c.var_max_lengths, templates.c.category).where(
            and_(
                or_(templates.c.account_id == row.id, templates.c.account_id.is_(None)),
                templates.c.state == ReviewState.APPROVED.value,
            )
        )
    )
    sig_rows = list(sigs)
    tpls: dict[int, Template] = {}
    for t in tpl_rows:
        if t.id == default_template().id:
            tpls[t.id] = default_template()
        else:
            tpls[t.id] = Template(
                t.id,
                t.text,
                tuple(json.loads(t.var_max_lengths)),
                is_verification=t.category == "verification",
                category=t.category,
            )
    return AccountView(
        id=row.id,
        api_id=row.api_id,
        apikey=decrypt(row.apikey_enc),
        state=AccountState(row.state),
        allowed_ips=parse_ip_list(row.allowed_ips),
        registered_ips=parse_ip_list(row.registered_ips),
        default_signature=row.default_signature,
        require_template=bool(row.require_template),
        approved_signatures=frozenset(text for text, _ in sig_rows),
        marketing_signatures=frozenset(text for text, category in sig_rows if category == "marketing"),
        templates=tpls,
        limit_daily=row.limit_daily,
        limit_daily_codes=row.limit_daily_codes,
        limit_daily_ceiling=row.limit_daily_ceiling,
        unit_price_micros=row.unit_price_micros,
    )


async def find_by_name(conn: AsyncConnection, name: str) -> AccountRow | None:
    row = (await conn.execute(select(accounts.c.api_id).where(accounts.c.name == name).order_by(accounts.c.id))).first()
    return None if row is None else await get_account(conn, row.api_id)


async def set_template_category(conn: AsyncConnection, template_id: int, category: str) -> None:
    res = await conn.execute(
        update(templates)
        .where(and_(templates.c.id == template_id, templates.c.account_id.is_not(None)))
        .values(category=category, updated_at=now_ms())
    )
    if res.rowcount == 0:
        raise NotFound(f"no template {template_id}")


async def template_url(conn: AsyncConnection, account_id: int) -> str | None:
    return (await conn.execute(select(accounts.c.template_url).where(accounts.c.id == account_id))).scalar_one_or_none()
