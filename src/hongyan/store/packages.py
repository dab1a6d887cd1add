"""Price packages (data, not code) and buying one: a top-up ledger row that records the payment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.domain.states import LedgerKind
from hongyan.store.accounts import NotFound
from hongyan.store.clock import now_ms
from hongyan.store.tables import accounts, ledger, packages


async def add_package(conn: AsyncConnection, name: str, segments: int, price_cents: int) -> int:
    if segments <= 0 or price_cents < 0:
        raise ValueError("segments must be positive and the price not negative")
    return (
        await conn.execute(
            insert(packages).returning(packages.c.id),
            {"name": name, "segments": segments, "price_cents": price_cents, "active": True, "created_at": now_ms()},
        )
    ).scalar_one()


async def list_packages(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(packages).where(packages.c.active.is_(True)).order_by(packages.c.segments))
    return [{**dict(r._mapping), "unit_price_fen": round(r.price_cents / r.segments, 4)} for r in rows]


async def buy(conn: AsyncConnection, account_id: int, package_id: int) -> int:
    """Top up by the package's segments (a ledger row with the payment) and set the account's unit price."""
    pkg = (await conn.execute(select(packages).where(packages.c.id == package_id, packages.c.active.is_(True)))).first()
    if pkg is None:
        raise NotFound(f"no package {package_id}")
    unit_micros = pkg.price_cents * 10_000 // pkg.segments  # cents → millionths of a yuan
    now = now_ms()
    balance = (
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(balance=accounts.c.balance + pkg.segments, unit_price_micros=unit_micros, updated_at=now)
            .returning(accounts.c.balance)
        )
    ).scalar_one()
    await conn.execute(
        insert(ledger),
        {
            "account_id": account_id,
            "kind": LedgerKind.TOPUP.value,
            "amount": pkg.segments,
            "package_id": pkg.id,
            "paid_cents": pkg.price_cents,
            "note": f"package {pkg.name}",
            "created_at": now,
        },
    )
    return balance
