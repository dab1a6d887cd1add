"""Policy administration: blacklists, sensitive words, per-account limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hongyan.domain.numbers import parse_mainland
from hongyan.services.platform import Platform
from hongyan.store import policy as store
from hongyan.store.accounts import get_account, update_account


def _mobile(raw: str) -> str:
    number = parse_mainland(raw)
    if number is None:
        raise ValueError(f"{raw!r} is not a mainland mobile number")
    return number.national


async def _account_id(conn, api_id: str | None) -> int | None:
    return None if api_id is None else (await get_account(conn, api_id)).id


async def blacklist_add(platform: Platform, mobile: str, api_id: str | None, reason: str | None) -> bool:
    async with platform.engines.write.begin() as conn:
        account_id = await _account_id(conn, api_id)
        return await store.add_blacklisted(
            conn, _mobile(mobile), account_id, "global" if account_id is None else "account", reason
        )


async def blacklist_remove(platform: Platform, mobile: str, api_id: str | None, kind: str | None) -> int:
    kinds = [kind] if kind else (["global"] if api_id is None else ["account", "auto408", "unsubscribe"])
    async with platform.engines.write.begin() as conn:
        return await store.remove_blacklisted(conn, _mobile(mobile), await _account_id(conn, api_id), kinds)


async def blacklist_list(platform: Platform, api_id: str | None) -> list[dict[str, Any]]:
    async with platform.engines.read.connect() as conn:
        return await store.list_blacklisted(conn, await _account_id(conn, api_id))


def read_word_file(path: Path) -> list[str]:
    words = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.append(line)
    return words


async def words_import(platform: Platform, path: Path) -> tuple[int, int]:
    """(added, read) from a UTF-8 file, one word a line; blank lines, # comments and duplicates skipped."""
    words = read_word_file(path)
    async with platform.engines.write.begin() as conn:
        return await store.add_words(conn, words), len(words)


async def words_add(platform: Platform, words: list[str]) -> int:
    async with platform.engines.write.begin() as conn:
        return await store.add_words(conn, words)


async def words_remove(platform: Platform, word: str) -> None:
    async with platform.engines.write.begin() as conn:
        await store.remove_word(conn, word)


async def words_list(platform: Platform) -> list[str]:
    async with platform.engines.read.connect() as conn:
        return await store.all_words(conn)


async def limits_set(platform: Platform, api_id: str, **values: int | None) -> None:
    values = {k: v for k, v in values.items() if v is not None}
    if any(v <= 0 for v in values.values()):
        raise ValueError("limits must be positive")
    if values:
        async with platform.engines.write.begin() as conn:
            await update_account(conn, api_id, **values)
        platform.accounts.invalidate(api_id)


async def limits_show(platform: Platform, api_id: str) -> dict[str, Any]:
    s = platform.settings
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, api_id)
    return {
        "account": api_id,
        "per_second": s.limit_per_second,
        "daily": row.limit_daily or s.limit_daily,
        "daily_codes": row.limit_daily_codes or s.limit_daily_codes,
        "ceiling": max(row.limit_daily_ceiling or s.limit_daily_ceiling, row.limit_daily or s.limit_daily),
    }
