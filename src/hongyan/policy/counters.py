"""Windowed counters behind one small interface, three implementations chosen by settings.

- ``MemoryCounters``: one process (the embedded default). Atomic because it never awaits in the middle.
- ``SqlCounters``: the ``counters`` table, for several processes sharing one SQLite file (or PostgreSQL);
  one transaction per operation (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the rows locked in key order).
- ``RedisCounters``: production; each operation is one Lua script, so it is atomic across processes.

``take`` is all-or-nothing: it checks every window (key, limit, ttl) and increments them all only when
none would pass its limit, so N concurrent requests against a limit of k accept exactly k. ``release``
gives a taken unit back when a later step (the balance, a failed store) refuses the message, so counts
stay exact. ``incr`` counts without a limit (the 408 attempt counter), ``clear`` deletes keys.

A window's key names its period (``…:20261125`` for a Beijing day, ``…:<unix second>`` for a second), so
the caller's clock decides which window a request falls in; the TTL only makes a finished window go away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Window:
    key: str
    limit: int
    ttl_ms: int


class Counters(Protocol):
    async def take(self, windows: Sequence[Window]) -> int | None:
        """Increment every window, or none; the index of the first window that is full, else None."""
        ...

    async def release(self, keys: Sequence[str]) -> None:
        """Give back one unit of each key (never below zero; a finished window stays finished)."""
        ...

    async def incr(self, key: str, ttl_ms: int) -> int:
        """Count one more without a limit; the new value."""
        ...

    async def clear(self, keys: Sequence[str]) -> None: ...

    async def close(self) -> None: ...


class MemoryCounters:
    """In-process counters: a dict of key → (value, expiry). No await between check and increment."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[int, float]] = {}
        self._ops = 0

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        hit = self._values.get(key)
        return hit if hit is not None and hit[1] > now else None

    def _bump(self, key: str, ttl_ms: int, now: float) -> int:
        hit = self._live(key, now)
        value, expires = (1, now + ttl_ms / 1000) if hit is None else (hit[0] + 1, hit[1])
        self._values[key] = (value, expires)
        return value

    def _sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % 10_000 == 0:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}

    async def take(self, windows: Sequence[Window]) -> int | None:
        now = self._clock()
        for i, w in enumerate(windows):
            hit = self._live(w.key, now)
            if (0 if hit is None else hit[0]) >= w.limit:
                return i
        for w in windows:
            self._bump(w.key, w.ttl_ms, now)
        self._sweep(now)
        return None

    async def release(self, keys: Sequence[str]) -> None:
        now = self._clock()
        for key in keys:
            hit = self._live(key, now)
            if hit is not None and hit[0] > 0:
                self._values[key] = (hit[0] - 1, hit[1])

    async def incr(self, key: str, ttl_ms: int) -> int:
        now = self._clock()
        value = self._bump(key, ttl_ms, now)
        self._sweep(now)
        return value

    async def clear(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._values.pop(key, None)

    async def close(self) -> None:
        return None


class SqlCounters:
    """Counters in the ``counters`` table (key, value, expires_at ms), shared by every process on the database.

    On SQLite the counters get their own single connection (WAL, ``synchronous=NORMAL``: a counter need
    not survive a power cut, so a take costs no fsync) and one in-process lock, so the process's takes
    queue in memory and only processes contend for the file lock. Expired rows are overwritten when their
    key comes back and swept every ``sweep_every`` operations.
    """

    def __init__(
        self, url: str, engine: AsyncEngine | None = None, clock: Clock = time.time, sweep_every: int = 1000
    ) -> None:
        from sqlalchemy.engine import make_url

        self._sqlite = make_url(url).drivername.startswith("sqlite")
        self._clock = clock
        self._sweep_every = sweep_every
        self._ops = 0
        self._own_engine = self._sqlite or engine is None
        self._engine = _sqlite_counter_engine(url) if self._sqlite else (engine or _engine(url))
        self._lock = asyncio.Lock() if self._sqlite else None

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _locked(self, fn):
        if self._lock is None:
            return await fn()
        async with self._lock:
            return await fn()

    async def _rows(self, conn, keys: list[str], now: int) -> dict[str, int]:
        """Live values of ``keys``, locked for this transaction (PostgreSQL: placeholder rows, FOR UPDATE)."""
        from sqlalchemy import select

        from hongyan.store.tables import counters as t

        if not self._sqlite:
            await conn.execute(
                self._upsert().values([{"key": k, "value": 0, "expires_at": 0} for k in keys]).on_conflict_do_nothing()
            )
        q = select(t.c.key, t.c.value, t.c.expires_at).where(t.c.key.in_(keys)).order_by(t.c.key)
        if not self._sqlite:
            q = q.with_for_update()
        return {r.key: r.value for r in await conn.execute(q) if r.expires_at > now}

    def _upsert(self):
        from sqlalchemy.dialects import postgresql, sqlite

        from hongyan.store.tables import counters as t

        return (sqlite.insert if self._sqlite else postgresql.insert)(t)

    async def _write(self, conn, rows: list[dict[str, int | str]]) -> None:
        stmt = self._upsert()
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at}
        )
        await conn.execute(stmt, rows)

    async def _maybe_sweep(self, conn, now: int) -> None:
        from sqlalchemy import delete

        from hongyan.store.tables import counters as t

        self._ops += 1
        if self._ops % self._sweep_every == 0:
            await conn.execute(delete(t).where(t.c.expires_at <= now))

    async def take(self, windows: Sequence[Window]) -> int | None:
        if not windows:
            return None

        async def run() -> int | None:
            now = self._now_ms()
            keys = sorted({w.key for w in windows})
            async with self._engine.begin() as conn:
                live = await self._rows(conn, keys, now)
                for i, w in enumerate(windows):
                    if live.get(w.key, 0) >= w.limit:
                        return i
                rows: list[dict[str, int | str]] = []
                for w in windows:
                    if w.key in live:
                        rows.append({"key": w.key, "value": live[w.key] + 1, "expires_at": self._expiry(conn, w.key)})
                    else:
                        rows.append({"key": w.key, "value": 1, "expires_at": now + w.ttl_ms})
                await self._fill_expiry(conn, rows, keys)
                await self._write(conn, rows)
                await self._maybe_sweep(conn, now)
                return None

        return await self._locked(run)

    @staticmethod
    def _expiry(_conn, _key: str) -> int:
        return -1  # filled from the row by _fill_expiry (keeps the row's expiry when the window continues)

    async def _fill_expiry(self, conn, rows: list[dict[str, int | str]], keys: list[str]) -> None:
        if not any(r["expires_at"] == -1 for r in rows):
            return
        from sqlalchemy import select

        from hongyan.store.tables import counters as t

        expiry = {r.key: r.expires_at for r in await conn.execute(select(t.c.key, t.c.expires_at).where(t.c.key.in_(keys)))}
        for r in rows:
            if r["expires_at"] == -1:
                r["expires_at"] = expiry[str(r["key"])]

    async def release(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        from sqlalchemy import update

        from hongyan.store.tables import counters as t

        async def run() -> None:
            now = self._now_ms()
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(t)
                    .where(t.c.key.in_(list(keys)), t.c.value > 0, t.c.expires_at > now)
                    .values(value=t.c.value - 1)
                )

        await self._locked(run)

    async def incr(self, key: str, ttl_ms: int) -> int:
        async def run() -> int:
            now = self._now_ms()
            async with self._engine.begin() as conn:
                live = await self._rows(conn, [key], now)
                if key in live:
                    value = live[key] + 1
                    await self._fill_and_write(conn, key, value)
                else:
                    value = 1
                    await self._write(conn, [{"key": key, "value": 1, "expires_at": now + ttl_ms}])
                await self._maybe_sweep(conn, now)
                return value

        return await self._locked(run)

    async def _fill_and_write(self, conn, key: str, value: int) -> None:
        from sqlalchemy import update

        from hongyan.store.tables import counters as t

        await conn.execute(update(t).where(t.c.key == key).values(value=value))

    async def clear(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        from sqlalchemy import delete

        from hongyan.store.tables import counters as t

        async def run() -> None:
            async with self._engine.begin() as conn:
                await conn.execute(delete(t).where(t.c.key.in_(list(keys))))

        await self._locked(run)

    async def close(self) -> None:
        if self._own_engine:
            await self._engine.dispose()
