"""What delivery keeps aside for the operator: deliveries nobody could understand, and receipts whose carrier id
is not known (yet). Read-only; shared by the CLI (``hongyan delivery …``)."""

from __future__ import annotations

from typing import Any

from hongyan.domain.days import format_time
from hongyan.services.platform import Platform
from hongyan.store import receipts as store


async def list_unparsed(platform: Platform, limit: int = 100) -> list[dict[str, Any]]:
    """Kept deliver_sm/data_sm, newest first, with their raw fields (payload as hex, TLVs as JSON)."""
    async with platform.engines.read.connect() as conn:
        rows = await store.list_unparsed(conn, _limit(limit))
    return [{**r, "received": format_time(r["received_at"])} for r in rows]


async def list_pending_receipts(platform: Platform, limit: int = 100) -> list[dict[str, Any]]:
    """Receipts (DLRs) for carrier ids no recorded submit has, oldest first."""
    async with platform.engines.read.connect() as conn:
        rows = await store.list_pending(conn, _limit(limit))
    return [{**r, "received": format_time(r["received_at"])} for r in rows]


def _limit(limit: int) -> int:
    if limit < 1:
        raise ValueError("--limit must be at least 1")
    return limit
