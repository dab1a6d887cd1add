"""Blacklists (4030): the operator's global list and each account's own, 408 auto and unsubscribe lists.

Every change bumps ``policy_version`` in the same transaction, which is how every running process learns
that its in-memory copy (``hongyan.policy.state.PolicyState``) is stale.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.store.accounts import NotFound
from hongyan.store.clock import now_ms
from hongyan.store.policy import bump_version
from hongyan.store.tables import accounts, blacklist

GLOBAL, ACCOUNT, AUTO408, UNSUBSCRIBE = "global", "account", "auto408", "unsubscribe"
KINDS = (GLOBAL, ACCOUNT, AUTO408, UNSUBSCRIBE)
ACCOUNT_KINDS = (ACCOUNT, AUTO408, UNSUBSCRIBE)


def _check_kind(kind: str, account_id: int | None) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if (kind == GLOBAL) != (account_id is None):
        raise ValueError("the global list has no account; the account, auto408 and unsubscribe lists need one")


def _owner(account_id: int | None):
    return blacklist.c.account_id.is_(None) if account_id is None else blacklist.c.account_id == account_id


async def add(conn: AsyncConnection, mobile: str, account_id: int | None, kind: str, reason: str | None = None) -> bool:
    """Put a number on a list; False when it was already there."""
    _check_kind(kind, account_id)
    where = (blacklist.c.mobile == mobile, blacklist.c.kind == kind, _owner(account_id))
    if (await conn.execute(select(blacklist.c.id).where(*where))).first() is not None:
        return False
    row = {"account_id": account_id, "mobile": mobile, "kind": kind, "reason": reason, "created_at": now_ms()}
    try:
        async with conn.begin_nested():  # another process may add the same entry at the same moment
            await conn.execute(insert(blacklist), row)
    except IntegrityError:
        return False
    await bump_version(conn)
    return True


async def remove(conn: AsyncConnection, mobile: str, account_id: int | None, kinds: tuple[str, ...] | list[str]) -> int:
    """Take a number off the given lists of one owner; how many entries went. NotFound when none did."""
    for kind in kinds:
        _check_kind(kind, account_id)
    res = await conn.execute(
        delete(blacklist).where(blacklist.c.mobile == mobile, blacklist.c.kind.in_(list(kinds)), _owner(account_id))
    )
    if res.rowcount == 0:
        where = "the global list" if account_id is None else f"the {'/'.join(kinds)} list(s) of that account"
        raise NotFound(f"{mobile} is not on {where}")
    await bump_version(conn)
    return res.rowcount


async def entries(
    conn: AsyncConnection, account_id: int | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """Entries with the account's API ID (None for the global list), oldest first; all owners when no account."""
    q = (
        select(
            blacklist.c.mobile,
            blacklist.c.kind,
            accounts.c.api_id.label("account"),
            blacklist.c.reason,
            blacklist.c.created_at,
        )
        .select_from(blacklist.outerjoin(accounts, accounts.c.id == blacklist.c.account_id))
        .order_by(blacklist.c.id)
    )
    if account_id is not None:
        q = q.where(blacklist.c.account_id == account_id)
    if kind is not None:
        q = q.where(blacklist.c.kind == kind)
    return [dict(r._mapping) for r in await conn.execute(q)]


async def contains(conn: AsyncConnection, mobile: str, account_id: int) -> list[str]:
    """The lists that stop ``mobile`` for this account (empty: it may be sent to). Not for the hot path."""
    q = select(blacklist.c.kind).where(
        blacklist.c.mobile == mobile,
        or_(blacklist.c.account_id.is_(None), blacklist.c.account_id == account_id),
    )
    return sorted({k for (k,) in await conn.execute(q)})


async def snapshot(conn: AsyncConnection) -> list[tuple[int | None, str]]:
    """Every (account_id, mobile) pair, for the per-process copy."""
    return [(r.account_id, r.mobile) for r in await conn.execute(select(blacklist.c.account_id, blacklist.c.mobile))]
