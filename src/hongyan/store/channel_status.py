"""Channel status heartbeats (``channel_status``): each delivery process upserts one row per channel it runs,
every few seconds, in one statement; any process reads the fresh rows, summed per channel over the processes
running it. A row older than the staleness bound counts as unknown (its process is gone or stuck).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hongyan.store.tables import channel_status

FORGET_AFTER_MS = 3_600_000  # rows this old (processes long gone) are deleted by the next heartbeat


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One channel's state in one process."""

    channel: str
    bound: bool
    inflight: int
    window: int
    tps: float
    throttled: bool


@dataclass(frozen=True, slots=True)
class ChannelLive:
    """A channel's state summed over the processes that reported it freshly."""

    bound: bool  # bound in at least one process
    inflight: int
    window: int  # summed over the processes bound to it
    tps: float
    throttled: bool  # bound somewhere, and every bound process is held back
    nodes: int  # processes reporting
    updated_at: int  # the freshest report (Unix ms)

    @property
    def available(self) -> bool:
        return self.bound and not self.throttled


def _upsert(dialect: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(channel_status)
    return stmt.on_conflict_do_update(
        index_elements=[channel_status.c.channel, channel_status.c.node],
        set_={c: stmt.excluded[c] for c in ("bound", "inflight", "window", "tps", "throttled", "updated_at")},
    )


async def beat(engine: AsyncEngine, node: str, beats: Sequence[Heartbeat], now: int) -> None:
    """Write this process's channels (one upsert), drop its rows for channels it no longer runs, and forget rows
    of processes gone for an hour, in one transaction."""
    names = [b.channel for b in beats]
    async with engine.begin() as conn:
        if beats:
            await conn.execute(
                _upsert(conn.dialect.name),
                [
                    {
                        "channel": b.channel,
                        "node": node,
                        "bound": b.bound,
                        "inflight": b.inflight,
                        "window": b.window,
                        "tps": float(b.tps),
                        "throttled": b.throttled,
                        "updated_at": now,
                    }
                    for b in beats
                ],
            )
        await conn.execute(
            delete(channel_status).where(channel_status.c.node == node, channel_status.c.channel.not_in(names))
        )
        await conn.execute(delete(channel_status).where(channel_status.c.updated_at < now - FORGET_AFTER_MS))


async def forget(engine: AsyncEngine, node: str) -> None:
    """A delivery process stops: its rows go (its channels are no longer bound through it)."""
    async with engine.begin() as conn:
        await conn.execute(delete(channel_status).where(channel_status.c.node == node))


async def fresh(conn: AsyncConnection, *, max_age_ms: int, now: int) -> dict[str, ChannelLive]:
    """Channels with a report newer than ``max_age_ms``, summed over their processes; absent = unknown."""
    rows = await conn.execute(select(channel_status).where(channel_status.c.updated_at >= now - max_age_ms))
    grouped: dict[str, list] = {}
    for r in rows:
        grouped.setdefault(r.channel, []).append(r)
    out: dict[str, ChannelLive] = {}
    for name, rs in grouped.items():
        bound = [r for r in rs if r.bound]
        out[name] = ChannelLive(
            bound=bool(bound),
            inflight=sum(r.inflight for r in rs),
            window=sum(r.window for r in bound),
            tps=round(sum(r.tps for r in rs), 1),
            throttled=bool(bound) and all(r.throttled for r in bound),
            nodes=len(rs),
            updated_at=max(r.updated_at for r in rs),
        )
    return out
