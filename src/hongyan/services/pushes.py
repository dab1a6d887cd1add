"""Push administration: list (dead letters), replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hongyan.services.platform import Platform
from hongyan.store import outbox
from hongyan.store.accounts import get_account


def parse_since(since: str | None) -> int | None:
    """``2026-11-25``, ``2026-11-25T08:00`` (Beijing time when no offset) or Unix seconds → Unix ms."""
    if not since:
        return None
    if since.isdigit():
        return int(since) * 1000
    from hongyan.domain.pushes import BEIJING

    try:
        dt = datetime.fromisoformat(since)
    except ValueError as exc:
        raise ValueError("--since takes a date, an ISO time or Unix seconds") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=BEIJING)
    return int(dt.timestamp() * 1000)


async def list_pushes(platform: Platform, *, state: str | None, api_id: str | None, limit: int) -> list[dict[str, Any]]:
    async with platform.engines.read.connect() as conn:
        account_id = (await get_account(conn, api_id)).id if api_id else None
        return await outbox.list_rows(conn, state=state, account_id=account_id, limit=limit)


async def replay(platform: Platform, *, api_id: str | None, since: str | None) -> int:
    since_ms = parse_since(since)
    async with platform.engines.write.begin() as conn:
        account_id = (await get_account(conn, api_id)).id if api_id else None
        return await outbox.replay(conn, account_id=account_id, since_ms=since_ms)
