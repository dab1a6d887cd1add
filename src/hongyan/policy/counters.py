"""Windowed counters behind one small interface, three implementations chosen by settings.

- ``MemoryCounters``: one process (the embedded default). Atomic because it never awaits in the middle.
- ``SqliteCounters`` / ``SqlCounters`` (``HONGYAN_COUNTERS=sql``): the ``counters`` table, for several
  processes sharing one SQLite file (one ``BEGIN IMMEDIATE`` transaction per operation) or one PostgreSQL
  (the rows locked in key order).
- ``RedisCounters``: production; each operation is one Lua script, so it is atomic across processes.

``take(windows, counted)`` is the one operation on the hot path, one round trip: it first counts one more
on ``counted`` (unconditionally: the 408 attempt counter) and answers ``OVER`` when that passes its limit;
otherwise it checks every window (key, limit, ttl) and increments them all only when none would pass its
limit, so N concurrent requests against a limit of k accept exactly k. ``release`` gives a taken unit back
when a later step (the balance, a failed store) refuses the message, so counts stay exact; ``clear``
deletes keys.

A window's key names its period (``…:20261125`` for a Beijing day, ``…:<unix second>`` for a second), so
the caller's clock decides which window a request falls in; the TTL makes a finished window go away.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hongyan.domain.windows import OVER, Clear, Op, Release, Take, Window, first_full
from hongyan.policy.memory_counters import Clock, MemoryCounters
from hongyan.store import counter_rows
from hongyan.store.db import WRITER_BUSY_STEP_MS, begin_immediate, ensure_wal, is_busy
from hongyan.store.tables import counters as _table
from hongyan.store.writelock import WriteLock

T = TypeVar("T")


class Counters(Protocol):
    async def take(self, windows: Sequence[Window], counted: Window | None = None) -> int | None:
        """Count one on ``counted`` (always) and answer ``OVER`` if it passed its limit; else increment every
        window, or none: the index of the first window that is full, or None when all were taken."""
        ...

    async def release(self, keys: Sequence[str]) -> None:
        """Give back one unit of each key (never below zero; an expired window stays gone)."""
        ...

    async def clear(self, keys: Sequence[str]) -> None:
        """Forget these keys."""
        ...

    async def close(self) -> None: ...


class SqliteCounters:
    """Counters in the ``counters`` table of a SQLite file, shared by every process that opens the file.

    Group commit: the operations that arrive while a transaction is in flight wait for the next one. A transaction
    takes the file's ``store.writelock`` queue, then ``BEGIN IMMEDIATE``, reads every row its operations name in one
    SELECT, applies the operations one after the other to what it read (as ``MemoryCounters`` does), writes the
    changed rows in one INSERT … ON CONFLICT and commits. So each operation is atomic across processes and N
    concurrent takes against a limit of k still accept exactly k, at a handful of statements per transaction
    instead of per Submit. The statements run on the event loop, as ``store.txgroup``'s do (on a thread each row
    of a SELECT would wait for the GIL behind the busy loop); only a wait for another holder of the lock goes to
    the thread. ``synchronous=NORMAL`` and no checkpoints from this connection: a counter need not survive a power
    cut, so a commit costs no fsync. Expired rows are overwritten when their key comes back and swept every
    ``sweep_every`` operations. If a transaction fails, every operation in it fails with its error (nothing of it
    was written).
    """

    def __init__(self, path: str, clock: Clock = time.time, sweep_every: int = 1000, batch_max: int = 512) -> None:
        self._path = path
        self._clock = clock
        self._sweep_every = sweep_every
        self._batch_max = batch_max
        self._ops = 0
        self._db: sqlite3.Connection | None = None
        self._lock = WriteLock(path)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hongyan-counters")
        self._queue: list[tuple[Op, asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.transactions = 0
        # Set by the platform when its accept committer writes to the same file: the Submit path then leaves its
        # takes to the transaction that stores the message (``store.messages``), and only release and clear come
        # here.
        self.take_in_commit = False

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self._path, isolation_level=None, timeout=10, check_same_thread=False)
            ensure_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA wal_autocheckpoint=0")  # the message writers checkpoint; never on this event loop
            db.execute(f"PRAGMA busy_timeout={WRITER_BUSY_STEP_MS}")  # BEGIN is polled on the thread when busy
            self._db = db
        return self._db

    async def _run(self, op: Op) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((op, fut))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="hongyan-counters")
        return await asyncio.shield(fut)

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._batch_max], self._queue[self._batch_max :]
                try:
                    results = await self._transaction([op for op, _ in batch])
                except Exception as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                            fut.exception()  # its caller may be gone
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            self._flusher = None

    async def _transaction(self, ops: list[Op]) -> list[Any]:
        loop = asyncio.get_running_loop()
        if self._db is None:
            await loop.run_in_executor(self._thread, self._conn)
        db = self._conn()
        if not self._lock.try_acquire():
            await loop.run_in_executor(self._thread, self._lock.acquire)
        try:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                await loop.run_in_executor(self._thread, begin_immediate, db, 10.0)
            try:
                results = self._apply(db, int(self._clock() * 1000), ops)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        finally:
            self._lock.release()
        self.transactions += 1
        return results

    def _apply(self, db: sqlite3.Connection, now: int, ops: list[Op]) -> list[Any]:
        rows = counter_rows.read(db, (key for op in ops for key in op.names_of()), now)
        results = [op.apply(rows) for op in ops]
        counter_rows.write(db, rows)
        before, self._ops = self._ops, self._ops + len(ops)
        if before // self._sweep_every != self._ops // self._sweep_every:
            counter_rows.sweep(db, now)
        return results

    async def take(self, windows: Sequence[Window], counted: Window | None = None) -> int | None:
        if not windows and counted is None:
            return None
        return await self._run(Take(windows, counted))

    async def release(self, keys: Sequence[str]) -> None:
        if keys:
            await self._run(Release(keys))

    async def clear(self, keys: Sequence[str]) -> None:
        if keys:
            await self._run(Clear(keys))

    async def close(self) -> None:
        if self._flusher is not None:
            await self._flusher

        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._lock.close()

        await asyncio.get_running_loop().run_in_executor(self._thread, shut)
        self._thread.shutdown(wait=True)


class SqlCounters:
    """Counters in the ``counters`` table through SQLAlchemy (PostgreSQL), shared by every process.

    Placeholder rows are inserted, then the rows are locked ``FOR UPDATE`` in key order (no deadlock between
    two takes), checked and written in one transaction. Expired rows are overwritten when their key comes
    back and swept every ``sweep_every`` operations.
    """

    def __init__(self, engine: AsyncEngine, clock: Clock = time.time, sweep_every: int = 1000) -> None:
        self._engine = engine
        self._clock = clock
        self._sweep_every = sweep_every
        self._ops = 0

    async def _tx(self, fn: Callable[[AsyncConnection, int], Awaitable[T]]) -> T:
        now = int(self._clock() * 1000)
        async with self._engine.begin() as conn:
            result = await fn(conn, now)
            self._ops += 1
            if self._ops % self._sweep_every == 0:
                await conn.execute(delete(_table).where(_table.c.expires_at <= now))
            return result

    async def _put(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        stmt = postgresql.insert(_table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at}
        )
        await conn.execute(stmt, rows)

    async def take(self, windows: Sequence[Window], counted: Window | None = None) -> int | None:
        if not windows and counted is None:
            return None
        keys = sorted({w.key for w in windows} | ({counted.key} if counted is not None else set()))

        async def run(conn: AsyncConnection, now: int) -> int | None:
            placeholders = [{"key": k, "value": 0, "expires_at": 0} for k in keys]
            await conn.execute(postgresql.insert(_table).values(placeholders).on_conflict_do_nothing())
            q = (
                select(_table.c.key, _table.c.value, _table.c.expires_at)
                .where(_table.c.key.in_(keys))
                .order_by(_table.c.key)
                .with_for_update()
            )
            live = {r.key: (r.value, r.expires_at) for r in await conn.execute(q) if r.expires_at > now}
            if counted is not None:
                value, expires_at = live.get(counted.key, (0, now + counted.ttl_ms))
                await self._put(conn, [{"key": counted.key, "value": value + 1, "expires_at": expires_at}])
                if value + 1 > counted.limit:
                    return OVER
            full = first_full([live.get(w.key, (0, 0))[0] for w in windows], windows)
            if full is not None:
                return full
            rows = []
            for w in windows:
                value, expires_at = live.get(w.key, (0, now + w.ttl_ms))
                rows.append({"key": w.key, "value": value + 1, "expires_at": expires_at})
            if rows:
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

    async def clear(self, keys: Sequence[str]) -> None:
        if not keys:
            return

        async def run(conn: AsyncConnection, _now: int) -> None:
            await conn.execute(delete(_table).where(_table.c.key.in_(list(keys))))

        await self._tx(run)

    async def close(self) -> None:
        return None  # the engine belongs to the platform


def sql_counters(database_url: str, engine: AsyncEngine | None = None, clock: Clock = time.time) -> Counters:
    """The ``counters`` table of this database: ``SqliteCounters`` on a SQLite file, else ``SqlCounters``."""
    url = make_url(database_url)
    if url.drivername.startswith("sqlite"):
        if not url.database or url.database == ":memory:":
            raise ValueError("HONGYAN_COUNTERS=sql needs a database file that every process opens")
        return SqliteCounters(url.database, clock=clock)
    if engine is None:
        raise ValueError("SQL counters on this database need the platform's engine")
    return SqlCounters(engine, clock=clock)


# KEYS: [counted,] window keys. ARGV[1]: 1 when KEYS[1] is the counted key, then limit, ttl per key.
# Returns -1 (counted passed its limit), 0 (all windows taken) or the 1-based index of the full window.
_TAKE = """
local first = 1
if ARGV[1] == '1' then
  local v = redis.call('INCR', KEYS[1])
  if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  if v > tonumber(ARGV[2]) then return -1 end
  first = 2
end
for i = first, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[2 * i]) then return i - first + 1 end
end
for i = first, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 1]) end
end
return 0
"""

_RELEASE = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""


class RedisCounters:
    """Counters in Redis, shared by every process; each operation is one atomic Lua script.

    TTLs run on the Redis server's clock; the window a request counts in is named in its key by the
    caller's clock, so a skewed server clock can only keep a finished window around a little longer.
    """

    def __init__(self, url: str, prefix: str = "hongyan:", max_connections: int = 64) -> None:
        import redis.asyncio as redis

        # A burst of requests waits for one of the pool's connections instead of failing.
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10)
        self._redis = redis.Redis(connection_pool=pool)
        self._prefix = prefix
        self._take = self._redis.register_script(_TAKE)
        self._release = self._redis.register_script(_RELEASE)

    async def take(self, windows: Sequence[Window], counted: Window | None = None) -> int | None:
        if not windows and counted is None:
            return None
        all_windows = [counted, *windows] if counted is not None else list(windows)
        args: list[int] = [1 if counted is not None else 0]
        for w in all_windows:
            args += [w.limit, w.ttl_ms]
        answer = int(await self._take(keys=[self._prefix + w.key for w in all_windows], args=args))
        return OVER if answer < 0 else None if answer == 0 else answer - 1

    async def release(self, keys: Sequence[str]) -> None:
        if keys:
            await self._release(keys=[self._prefix + k for k in keys])

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
        return sql_counters(database_url, engine, clock)
    if backend == "memory":
        return MemoryCounters(clock)
    raise ValueError(f"HONGYAN_COUNTERS must be memory or sql, not {backend!r}")
