"""Billing use cases: refunds (idempotent), packages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hongyan.domain.states import LedgerKind
from hongyan.services.platform import Platform
from hongyan.store import packages as package_store
from hongyan.store.accounts import NotFound, change_balance, get_account
from hongyan.store.tables import ledger, messages


async def refund(platform: Platform, smsid: str, reason: str) -> bool:
    """Give a message's segments back, once: False when it was already refunded. The delivery engine
    refunds final failures itself, in the same transaction as the state change; this is for operators."""
    async with platform.engines.write.begin() as conn:
        msg = (
            await conn.execute(select(messages.c.account_id, messages.c.segments).where(messages.c.smsid == smsid))
        ).first()
        if msg is None:
            raise NotFound(f"no message {smsid}")
        done = await conn.execute(
            select(ledger.c.id).where(ledger.c.smsid == smsid, ledger.c.kind == LedgerKind.REFUND.value)
        )
        if done.first() is not None:
            return False
        await change_balance(conn, msg.account_id, msg.segments, LedgerKind.REFUND, reason, smsid=smsid)
    platform.accounts.invalidate()
    return True


async def add_package(platform: Platform, name: str, segments: int, price_cents: int) -> int:
    async with platform.engines.write.begin() as conn:
        return await package_store.add_package(conn, name, segments, price_cents)


async def list_packages(platform: Platform) -> list[dict[str, Any]]:
    async with platform.engines.read.connect() as conn:
        return await package_store.list_packages(conn)


async def buy_package(platform: Platform, api_id: str, package_id: int) -> int:
    async with platform.engines.write.begin() as conn:
        account = await get_account(conn, api_id)
        balance = await package_store.buy(conn, account.id, package_id)
    platform.accounts.invalidate(api_id)
    return balance
