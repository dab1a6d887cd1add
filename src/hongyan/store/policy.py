"""Blacklists, sensitive words and the policy version every process watches to reload them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.store.accounts import NotFound
from hongyan.store.clock import now_ms
from hongyan.store.tables import blacklist, policy_version, sensitive_words

KINDS = ("global", "account", "auto408", "unsubscribe")


async def bump_version(conn: AsyncConnection) -> None:
    await conn.execute(
        update(policy_version).where(policy_version.c.id == 1).values(version=policy_version.c.version + 1)
    )


async def get_version(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(policy_version.c.version).where(policy_version.c.id == 1))).scalar_one())


async def add_blacklisted(
    conn: AsyncConnection, mobile: str, account_id: int | None, kind: str, reason: str | None
) -> bool:
    """Add a number; False when it was already on that list."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    exists = await conn.execute(
        select(blacklist.c.id).where(
            blacklist.c.mobile == mobile,
            blacklist.c.kind == kind,
            blacklist.c.account_id.is_(None) if account_id is None else blacklist.c.account_id == account_id,
        )
    )
    if exists.first() is not None:
        return False
    await conn.execute(
        insert(blacklist),
        {"account_id": account_id, "mobile": mobile, "kind": kind, "reason": reason, "created_at": now_ms()},
    )
    await bump_version(conn)
    return True


async def remove_blacklisted(conn: AsyncConnection, mobile: str, account_id: int | None, kinds: list[str]) -> int:
    cond = and_(
        blacklist.c.mobile == mobile,
        blacklist.c.kind.in_(kinds),
        blacklist.c.account_id.is_(None) if account_id is None else blacklist.c.account_id == account_id,
    )
    res = await conn.execute(delete(blacklist).where(cond))
    if res.rowcount == 0:
        raise NotFound(f"{mobile} is not on that list")
    await bump_version(conn)
    return res.rowcount


async def list_blacklisted(conn: AsyncConnection, account_id: int | None = None) -> list[dict[str, Any]]:
    q = select(blacklist).order_by(blacklist.c.id)
    if account_id is not None:
        q = q.where(blacklist.c.account_id == account_id)
    return [dict(r._mapping) for r in await conn.execute(q)]


async def all_blacklisted(conn: AsyncConnection) -> list[tuple[int | None, str]]:
    return [(r.account_id, r.mobile) for r in await conn.execute(select(blacklist.c.account_id, blacklist.c.mobile))]


async def add_words(conn: AsyncConnection, words: list[str]) -> int:
    existing = {w for (w,) in await conn.execute(select(sensitive_words.c.word))}
    new = []
    for w in words:
        w = w.strip()
        if w and w not in existing and len(w) <= 200:
            existing.add(w)
            new.append(w)
    if new:
        now = now_ms()
        await conn.execute(insert(sensitive_words), [{"word": w, "created_at": now} for w in new])
        await bump_version(conn)
    return len(new)


async def remove_word(conn: AsyncConnection, word: str) -> None:
    res = await conn.execute(delete(sensitive_words).where(sensitive_words.c.word == word))
    if res.rowcount == 0:
        raise NotFound(f"{word!r} is not in the list")
    await bump_version(conn)


async def all_words(conn: AsyncConnection) -> list[str]:
    return [w for (w,) in await conn.execute(select(sensitive_words.c.word).order_by(sensitive_words.c.id))]
