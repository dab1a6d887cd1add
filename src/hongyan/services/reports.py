"""Reports the console shows: overview, charts, send records, CSV export, replies.

``account_id`` scopes every call: a customer's page passes its own account's id, operator pages pass
``None`` for the whole system. The queries are in ``hongyan.store.stats``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from hongyan.domain.days import DAY_MS, day_start
from hongyan.services.platform import Platform
from hongyan.store import stats
from hongyan.store.stats import RecordFilter, RecordPage

__all__ = [
    "RecordFilter",
    "RecordPage",
    "delivery_activity",
    "export_csv",
    "overview",
    "records",
    "replies",
    "system_chart",
]


def _now_ms(platform: Platform) -> int:
    return int(platform.clock() * 1000)


async def overview(platform: Platform, account_id: int | None, *, days: int = 7) -> dict[str, Any]:
    """Today's numbers, the last ``days`` days (sent / delivered / failed) and the carrier split over them."""
    now = _now_ms(platform)
    async with platform.engines.read.connect() as conn:
        summary = await stats.today(conn, account_id, now)
        series = await stats.daily_series(conn, account_id, now, days)
        carriers = await stats.carrier_split(conn, account_id, day_start(now) - (days - 1) * DAY_MS)
    return {"today": asdict(summary), "daily": series, "carriers": carriers}


async def system_chart(platform: Platform, *, minutes: int = 60) -> dict[str, Any]:
    """Messages per minute by state, system-wide (operators)."""
    async with platform.engines.read.connect() as conn:
        return await stats.per_minute(conn, None, _now_ms(platform), minutes)


async def records(
    platform: Platform, account_id: int | None, f: RecordFilter, *, page: int = 1, per_page: int = 20
) -> RecordPage:
    async with platform.engines.read.connect() as conn:
        return await stats.search_records(conn, account_id, f, page=page, per_page=per_page)


def export_csv(platform: Platform, account_id: int | None, f: RecordFilter) -> AsyncIterator[str]:
    """CSV lines for a streaming response (``StreamingResponse(export_csv(...), media_type="text/csv")``)."""
    return stats.export_csv(platform.engines.read, account_id, f)


async def replies(
    platform: Platform, account_id: int | None, *, mobile: str | None = None, page: int = 1, per_page: int = 20
) -> RecordPage:
    async with platform.engines.read.connect() as conn:
        return await stats.list_replies(conn, account_id, mobile=mobile, page=page, per_page=per_page)


async def delivery_activity(platform: Platform, *, window_s: int = 60) -> dict[str, Any]:
    """Queue depth (accepted / queued) and, per channel, submits in the last ``window_s`` and receipts awaited."""
    async with platform.engines.read.connect() as conn:
        depth = await stats.queue_depth(conn)
        channels = await stats.channel_activity(conn, _now_ms(platform), window_s * 1000)
    return {"queue": depth, "channels": channels, "window_s": window_s}
