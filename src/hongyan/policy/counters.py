"""Windowed counters behind one small interface, three implementations chosen by settings.

- ``MemoryCounters``: one process (the embedded default). Atomic because it never awaits in the middle.
- ``SqlCounters``: the ``counters`` table, for several processes sharing one SQLite file (or PostgreSQL);
  one transaction per operation (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the rows locked in key order).
- ``RedisCounters``: production; each operation is one Lua script, so it is atomic across processes.

``take`` is all-or-nothing: it checks every window (key, limit, ttl) and increments them all only when
none would pass its limit, so N concurrent requests against a limit of k accept exactly k. ``release``
gives a taken unit back when a later step (the balance, a failed store) refuses the message, so counts
stay exact. ``incr`` counts without a limit (the 408 attempt counter); ``clear`` deletes keys.

A window's key names its period (``…:20261125`` for a Beijing day, ``…:<unix second>`` for a second), so
the caller's clock decides which window a request falls in; the TTL makes a finished window go away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, event, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hongyan.store.tables import counters as _table

Clock = Callable[[], float]
T = TypeVar("T")


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
        """Give back one unit of each key (never below zero; an expired window stays gone)."""
        ...

    async def incr(self, key: str, ttl_ms: int) -> int:
        """Count one more without a limit; returns the new value."""
        ...

    async def clear(self, keys: Sequence[str]) -> None:
        """Forget these keys."""
        ...

    async def close(self) -> None: ...


class MemoryCounters:
    """In-process counters: key → (value, expiry). No await between a check and its increment."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[int, float]] = {}
        self._ops = 0

    def _value(self, key: str, now: float) -> int:
        hit = self._values.get(key)
        return 0 if hit is None or hit[1] <= now else hit[0]

    def _bump(self, key: str, ttl_ms: int, now: float) -> int:
        hit = self._values.get(key)
        if hit is None or hit[1] <= now:
            self._values[key] = (1, now + ttl_ms / 1000)
            return 1
        self._values[key] = (hit[0] + 1, hit[1])
        return hit[0] + 1

    def _sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % 10_000 == 0:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}

    async def take(self, windows: Sequence[Window]) -> int | None:
        now = self._clock()
        for i, w in enumerate(windows):
            if self._value(w.key, now) >= w.limit:
                return i
        for w in windows:
            self._bump(w.key, w.ttl_ms, now)
        self._sweep(now)
        return None

    async def release(self, keys: Sequence[str]) -> None:
        now = self._clock()
        for key in keys:
            hit = self._values.get(key)
            if hit is not None and hit[1] > now and hit[0] > 0:
                self._values[key] = (hit[0] - 1, hit[1])

    async def incr(self, key: str, ttl_ms: int) -> int:
        now = self._clock()
        self._sweep(now)
        return self._bump(key, ttl_ms, now)

    async def clear(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._values.pop(key, None)

    async def close(self) -> None:
        return None


def _sqlite_engine(url: str) -> AsyncEngine:
    """One connection for this process's counters: WAL, ``synchronous=NORMAL``, writers lock at BEGIN."""
    engine = create_async_engine(url, pool_size=1, max_overflow=0)

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - exercised by the sqlite tests
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn) -> None:  # pragma: no cover
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class SqlCounters:
    """Counters in the ``counters`` table (key, value, expires_at in ms) shared by every process on the database.

    On SQLite the counters have their own connection (``synchronous=NORMAL``: a counter need not survive a
    power cut, so a take costs no fsync) and an in-process lock, so one process's takes queue in memory and
    only processes contend for the file's write lock. On PostgreSQL placeholder rows are inserted and then
    locked ``FOR UPDATE`` in key order (no deadlock between two takes). Expired rows are overwritten when
    their key comes back and swept every ``sweep_every`` operations.
    """

    def __init__(
        self, url: str, engine: AsyncEngine | None = None, clock: Clock = time.time, sweep_every: int = 1000
    ) -> None:
        self._sqlite = make_url(url).drivername.startswith("sqlite")
        self._clock = clock
        self._sweep_every = sweep_every
        self._ops = 0
        self._own_engine = self._sqlite or engine is None
        if self._sqlite:
            self._engine = _sqlite_engine(url)
        else:
            self._engine = engine or create_async_engine(url, pool_size=5, pool_pre_ping=True)
        self._lock = asyncio.Lock() if self._sqlite else None
        self._insert = sqlite.insert if self._sqlite else postgresql.insert

    async def _tx(self, fn: Callable[[AsyncConnection, int], Awaitable[T]]) -> T:
        async def once() -> T:
            now = int(self._clock() * 1000)
            async with self._engine.begin() as conn:
                result = await fn(conn, now)
                self._ops += 1
                if self._ops % self._sweep_every == 0:
                    await conn.execute(delete(_table).where(_table.c.expires_at <= now))
                return result

        if self._lock is None:
            return await once()
        async with self._lock:
            return await once()

    async def _live(self, conn: AsyncConnection, keys: list[str], now: int) -> dict[str, tuple[int, int]]:
        """key → (value, expires_at) of the live rows among ``keys``, locked for this transaction."""
        if not self._sqlite:
            placeholders = [{"key": k, "value": 0, "expires_at": 0} for k in keys]
            await conn.execute(self._insert(_table).values(placeholders).on_conflict_do_nothing())
        q = select(_table.c.key, _table.c.value, _table.c.expires_at).where(_table.c.key.in_(keys))
        if not self._sqlite:
            q = q.order_by(_table.c.key).with_for_update()
        return {r.key: (r.value, r.expires_at) for r in await conn.execute(q) if r.expires_at > now}

    async def _put(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        stmt = self._insert(_table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at}
        )
        await conn.execute(stmt, rows)

    async def take(self, windows: Sequence[Window]) -> int | None:
        if not windows:
            return None

        async def run(conn: AsyncConnection, now: int) -> int | None:
            live = await self._live(conn, sorted({w.key for w in windows}), now)
            for i, w in enumerate(windows):
                if live.get(w.key, (0, 0))[0] >= w.limit:
                    return i
            rows = []
            for w in windows:
                value, expires_at = live.get(w.key, (0, now + w.ttl_ms))
                rows.append({"key": w.key, "value": value + 1, "expires_at": expires_at})
            await self._put(conn, rows)
            return None

        return await self._tx(run)

    async def release(self, keys: Sequence[str]) -> None:
        if not keys:
            return

        async def run(conn: AsyncConnection, now: int) -> None:
            cond = (_table.c.key.in_(list(keys)), _table.c.value > 0, _table.c.expires_at > now)
            await conn.execute(update(_table).where(*cond).values(value=_table.c.value - 1))

        await self._tx(run)

    async def incr(self, key: str, ttl_ms: int) -> int:
        async def run(conn: AsyncConnection, now: int) -> int:
            value, expires_at = (await self._live(conn, [key], now)).get(key, (0, now + ttl_ms))
            await self._put(conn, [{"key": key, "value": value + 1, "expires_at": expires_at}])
            return value + 1

        return await self._tx(run)

    async def clear(self, keys: Sequence[str]) -> None:
        if not keys:
            return

        async def run(conn: AsyncConnection, _now: int) -> None:
            await conn.execute(delete(_table).where(_table.c.key.in_(list(keys))))

        await self._tx(run)

    async def close(self) -> None:
        if self._own_engine:
            await self._engine.dispose()


# KEYS: the windows' keys; ARGV: limit1, ttl1, limit2, ttl2, … Returns 0, or the 1-based full window.
_TAKE = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[2 * i - 1]) then return i end
end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i]) end
end
return 0
"""

_RELEASE = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""

_INCR = """
local v = redis.call('INCR', KEYS[1])
if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
"""


class RedisCounters:
    """Counters in Redis, shared by every process; each operation is one atomic Lua script.

    TTLs run on the Redis server's clock; the window a request counts in is named in its key by the
    caller's clock, so a skewed server clock can only keep a finished window around a little longer.
    """

    def __init__(self, url: str, prefix: str = "hongyan:") -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix
        self._take = self._redis.register_script(_TAKE)
        self._release = self._redis.register_script(_RELEASE)
        self._incr = self._redis.register_script(_INCR)

    async def take(self, windows: Sequence[Window]) -> int | None:
        if not windows:
            return None
        args: list[int] = []
        for w in windows:
            args += [w.limit, w.ttl_ms]
        full = int(await self._take(keys=[self._prefix + w.key for w in windows], args=args))
        return None if full == 0 else full - 1

    async def release(self, keys: Sequence[str]) -> None:
        if keys:
            await self._release(keys=[self._prefix + k for k in keys])

    async def incr(self, key: str, ttl_ms: int) -> int:
        return int(await self._incr(keys=[self._prefix + key], args=[ttl_ms]))

    async def clear(self, keys: Sequence[str]) -> None:
        if keys:
            await self._redis.delete(*[self._prefix + k for k in keys])

    async def close(self) -> None:
        await self._redis.aclose()


def counters_for(
    *,
    redis_url: str | None,
    redis_prefix: str = "hongyan:",
    backend: str = "memory",
    database_url: str = "",
    engine: AsyncEngine | None = None,
    clock: Clock = time.time,
) -> Counters:
    """``HONGYAN_REDIS_URL`` set → Redis; else ``HONGYAN_COUNTERS``: ``memory`` (default) or ``sql``."""
    if redis_url:
        return RedisCounters(redis_url, prefix=redis_prefix)
    if backend == "sql":
        return SqlCounters(database_url, engine=engine, clock=clock)
    if backend == "memory":
        return MemoryCounters(clock)
    raise ValueError(f"HONGYAN_COUNTERS must be memory or sql, not {backend!r}")
