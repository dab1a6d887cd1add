"""Policy administration: blacklists, sensitive words, per-account limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hongyan.domain.numbers import parse_mainland
from hongyan.pipeline.limits import effective_limits
from hongyan.services.platform import Platform
from hongyan.services.submit import pipeline_config
from hongyan.store import blacklist as blacklist_store
from hongyan.store import policy as store
from hongyan.store.accounts import get_account, update_account


def _mobile(raw: str) -> str:
    number = parse_mainland(raw)
    if number is None:
        raise ValueError(f"{raw!r} is not a mainland mobile number")
    return number.national


async def _account_id(conn, api_id: str | None) -> int | None:
    return None if api_id is None else (await get_account(conn, api_id)).id


async def blacklist_add(
    platform: Platform, mobile: str, api_id: str | None, reason: str | None, kind: str | None = None
) -> bool:
    """List a number: on the global list without an account, else on the account's (or ``kind``) list.
    False when it was already there. Running processes see it within ``policy_poll_s``."""
    number = _mobile(mobile)
    async with platform.engines.write.begin() as conn:
        account_id = await _account_id(conn, api_id)
        kind = kind or (blacklist_store.GLOBAL if account_id is None else blacklist_store.ACCOUNT)
        return await blacklist_store.add(conn, number, account_id, kind, reason)


async def blacklist_remove(platform: Platform, mobile: str, api_id: str | None, kind: str | None) -> int:
    """Lift a number: from the global list, or from the account's lists (all of them, or only ``kind``)."""
    kinds = (kind,) if kind else ((blacklist_store.GLOBAL,) if api_id is None else blacklist_store.ACCOUNT_KINDS)
    number = _mobile(mobile)
    async with platform.engines.write.begin() as conn:
        return await blacklist_store.remove(conn, number, await _account_id(conn, api_id), kinds)


async def blacklist_list(platform: Platform, api_id: str | None, kind: str | None = None) -> list[dict[str, Any]]:
    """Every entry (global and all accounts), or one account's."""
    async with platform.engines.read.connect() as conn:
        return await blacklist_store.entries(conn, await _account_id(conn, api_id), kind)


def parse_words(text: str) -> list[str]:
    """One word a line; blank lines and # comments skipped (the CLI's file import and the console's upload)."""
    words = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.append(line)
    return words


def read_word_file(path: Path) -> list[str]:
    return parse_words(path.read_text(encoding="utf-8-sig"))


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


LIMIT_COLUMNS = ("limit_daily", "limit_daily_codes", "limit_daily_ceiling")


async def limits_set(platform: Platform, api_id: str, *, reset: bool = False, **values: int | None) -> None:
    """Set an account's own limits (``limit_daily``, ``limit_daily_codes``, ``limit_daily_ceiling``); ``reset``
    first returns all three to the platform defaults. Running processes see it within the account cache TTL."""
    unknown = set(values) - set(LIMIT_COLUMNS)
    if unknown:
        raise ValueError(f"unknown limit {', '.join(sorted(unknown))}")
    given = {k: v for k, v in values.items() if v is not None}
    if not given and not reset:
        raise ValueError("nothing to set: give --daily, --daily-codes, --ceiling or --reset")
    if any(v <= 0 for v in given.values()):
        raise ValueError("limits must be positive")
    update = dict.fromkeys(LIMIT_COLUMNS) if reset else {}
    update.update(given)
    async with platform.engines.write.begin() as conn:
        row = await get_account(conn, api_id)
        s = platform.settings
        daily = update.get("limit_daily", None if reset else row.limit_daily) or s.limit_daily
        ceiling = update.get("limit_daily_ceiling", None if reset else row.limit_daily_ceiling)
        if "limit_daily_ceiling" in given and ceiling is not None and ceiling <= daily:
            raise ValueError(f"the ceiling ({ceiling}) must be above the daily limit ({daily})")
        await update_account(conn, api_id, **update)
    platform.accounts.invalidate(api_id)


async def limits_show(platform: Platform, api_id: str) -> dict[str, Any]:
    """The limits in force for an account, and which of them are its own (the rest are platform defaults)."""
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, api_id)
    limits = effective_limits(row, pipeline_config(platform))
    return {
        "account": api_id,
        "per_second": limits.per_second,
        "daily": limits.daily,
        "daily_codes": limits.daily_codes,
        "ceiling": limits.ceiling,
        "own": {k.removeprefix("limit_"): getattr(row, k) for k in LIMIT_COLUMNS if getattr(row, k)},
    }
