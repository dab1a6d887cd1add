"""Sensitive words and the policy version every process watches to reload its lists."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.store.accounts import NotFound
from hongyan.store.clock import now_ms
from hongyan.store.tables import policy_version, sensitive_words


async def bump_version(conn: AsyncConnection) -> None:
    await conn.execute(
        update(policy_version).where(policy_version.c.id == 1).values(version=policy_version.c.version + 1)
    )


async def get_version(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(policy_version.c.version).where(policy_version.c.id == 1))).scalar_one())


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
