"""One write transaction for many callers (group commit of work): the delivery side of a process — dispatcher,
receipt intake, sweeper — hands its writes to one ``TxGroup`` instead of opening a transaction each.

A caller passes a *work*, an async function of a connection (``await conn.execute(...)``, nothing else awaited),
and waits; the group runs everything that queued up while its previous transaction was in flight, one work after
the other in ONE transaction, commits once, and only then answers each caller with its work's result. A failed
transaction is retried one work at a time, so one bad work cannot fail its neighbours; a work may therefore run
twice and must keep its side effects (counters, lists of the caller) until ``run`` returns.

On SQLite the group has its own plain ``sqlite3`` connection (pysqlite via a one-connection SQLAlchemy engine, so
the SQL still comes from ``store.tables``): the statements run synchronously on the event loop — the works'
``await conn.execute`` never suspends, and each work is driven to its end at once — and only the COMMIT (the
fsync) goes to the group's thread: one thread hop per transaction instead of one event-loop round trip per
statement, which is what held SQLite's single write lock longest. (Statements on the thread were slower still:
sqlite3 releases the GIL around every row it steps, and each time the thread waited for the busy loop to give it
back.) While someone of the process holds the write engine's only pool connection, the group queues for it and
holds it while it writes, as ``store.messages.SqliteCommitter`` does, so they take turns in the pool's queue instead
of meeting in SQLite's busy handler; when nobody holds it, the group goes straight to the file's lock queue
(``store.writelock``). On PostgreSQL (and in-memory SQLite) the transaction runs on the async engine.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.store.db import begin_immediate, is_busy, pool_busy, sqlite_file, sqlite_sync_writer
from hongyan.store.writelock import WriteLock

T = TypeVar("T")
Work = Callable[[Any], Awaitable[T]]
log = logging.getLogger(__name__)


class TxGroup:
    """The queue and the batching; a subclass runs a list of works in one transaction (``_transaction``)."""

    def __init__(self, *, name: str = "txgroup", batch_max: int = 64, parallel: int = 1) -> None:
        self.name = name
        self._batch_max = batch_max
        self._slots = asyncio.Semaphore(parallel)  # transactions in flight at once
        self._running: set[asyncio.Task[None]] = set()
        self._queue: list[tuple[Work[Any], asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.transactions = 0  # committed
        self.works = 0  # committed

    async def run(self, work: Work[T]) -> T:
        """Run ``work(conn)`` in the group's next transaction; returns its result once that has committed."""
        if self._closing:
            raise RuntimeError(f"{self.name} is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, fut))
        self._wake.set()
        return await asyncio.shield(fut)

    async def close(self) -> None:
        """Run what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self._release()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._slots.acquire()  # meanwhile more work queues up: the next transaction takes it all
                batch, self._queue = self._queue[: self._batch_max], self._queue[self._batch_max :]
                task = asyncio.create_task(self._commit_in_slot(batch), name=f"{self.name}-commit")
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if self._closing:
                await asyncio.gather(*self._running)
                if not self._queue:
                    return

    async def _commit_in_slot(self, batch: list[tuple[Work[Any], asyncio.Future[Any]]]) -> None:
        try:
            await self._commit(batch)
        finally:
            self._slots.release()

    async def _commit(self, batch: list[tuple[Work[Any], asyncio.Future[Any]]]) -> None:
        try:
            results = await self._transaction([work for work, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                fut = batch[0][1]
                if not fut.done():
                    fut.set_exception(exc)
                    fut.exception()  # the caller may be gone; never "exception was never retrieved"
                return
            log.warning("%s: transaction of %d works failed (%r); retrying one by one", self.name, len(batch), exc)
            for one in batch:
                await self._commit([one])
            return
        self.transactions += 1
        self.works += len(batch)
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def _transaction(self, works: list[Work[Any]]) -> list[Any]:
        raise NotImplementedError

    async def _release(self) -> None:
        return None


class EngineTxGroup(TxGroup):
    """The transaction on an async engine (PostgreSQL; any dialect). On PostgreSQL a few run at once (``parallel``),
    as the dispatcher's and the intake's transactions did before they shared a group: a submit's mark need not wait
    for a large receipt batch's commit."""

    def __init__(self, engine: AsyncEngine, **kw: Any) -> None:
        super().__init__(**kw)
        self._engine = engine

    async def _transaction(self, works: list[Work[Any]]) -> list[Any]:
        async with self._engine.begin() as conn:
            return [await work(conn) for work in works]


class ThreadConnection:
    """What a work sees on SQLite: ``await conn.execute(stmt, params)`` on a sync connection (the await never
    suspends)."""

    def __init__(self, conn: Connection) -> None:
        self.sync_connection = conn
        self.dialect = conn.dialect
        self.raw_sqlite = conn.connection.dbapi_connection  # store.prepared statements run on it directly

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self.sync_connection.execute(statement, parameters)


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, here and now."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a transaction work awaited something other than its connection")


class SqliteTxGroup(TxGroup):
    """The transaction over the group's own sqlite3 connection: statements on the event loop, COMMIT (the fsync) on
    the group's thread; while another user of the process holds the write engine's only pool connection (``gate``),
    it queues for that connection first and holds it while it writes."""

    def __init__(self, path: str, gate: AsyncEngine | None = None, *, busy_timeout_ms: int = 10_000, **kw: Any):
        super().__init__(**kw)
        self._gate = gate
        self._busy_timeout_s = busy_timeout_ms / 1000
        self._engine = sqlite_sync_writer(path, busy_timeout_ms=busy_timeout_ms)
        self._conn: Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-sqlite")
        self._lock = WriteLock(path)  # taken before SQLite's write lock: store.writelock

    async def _transaction(self, works: list[Work[Any]]) -> list[Any]:
        if self._gate is None or not pool_busy(self._gate):
            # Nobody in this process holds the write engine's connection: no need to queue for it. Checking it out
            # only as a token cost a pool checkout and a ROLLBACK on its aiosqlite thread per transaction (~10 % of
            # a delivery process's event loop). A writer that takes it meanwhile waits in SQLite's busy handler.
            return await self._run(works)
        async with self._gate.connect():
            return await self._run(works)

    async def _run(self, works: list[Work[Any]]) -> list[Any]:
        loop = asyncio.get_running_loop()
        if self._conn is None:
            self._conn = await loop.run_in_executor(self._pool, self._engine.connect)
        conn = self._conn
        raw = conn.connection.dbapi_connection
        if raw.in_transaction:  # left open by a transaction cancelled while it waited for the lock
            _rollback(conn)
        # The queue first (store.writelock), then SQLite's lock. Both are tried here; a holder is waited for on the
        # thread, so the event loop never blocks in flock nor sleeps in SQLite's busy handler.
        if not self._lock.try_acquire():
            await _shielded(loop.run_in_executor(self._pool, self._lock.acquire), self._lock.release)
        try:
            await self._begin(loop, raw)
            return await self._statements(loop, conn, raw, works)
        finally:
            self._lock.release()

    async def _begin(self, loop: asyncio.AbstractEventLoop, raw: sqlite3.Connection) -> None:
        try:
            raw.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            await loop.run_in_executor(self._pool, begin_immediate, raw, self._busy_timeout_s)

    async def _statements(
        self, loop: asyncio.AbstractEventLoop, conn: Connection, raw: sqlite3.Connection, works: list[Work[Any]]
    ) -> list[Any]:
        try:
            # The statements run here, on the loop: they are CPU work either way, and on a thread each of them
            # (each row, even: sqlite3 lets the GIL go around every step) waited for the GIL behind the busy loop.
            tc = ThreadConnection(conn)
            results = [drive(work(tc)) for work in works]
            # The queue is let go on the thread right after COMMIT: waiting for this busy loop to come back first
            # kept another process's writers (the API's group commit) waiting for nothing.
            await loop.run_in_executor(self._pool, _commit, conn, self._lock)
        except BaseException:
            if raw.in_transaction:
                _rollback(conn)
            raise
        return results

    async def _release(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._engine.dispose()
            self._lock.close()

        await asyncio.get_running_loop().run_in_executor(self._pool, close)
        self._pool.shutdown(wait=True)


async def _shielded(fut: asyncio.Future[None], undo: Callable[[], None]) -> None:
    """Await a thread's ``fut``; if the awaiting task is cancelled meanwhile, ``undo`` what the thread still does."""
    try:
        await asyncio.shield(fut)
    except asyncio.CancelledError:
        fut.add_done_callback(lambda f: f.cancelled() or f.exception() or undo())
        raise


def _commit(conn: Connection, lock: WriteLock | None = None) -> None:
    conn.commit()
    raw = conn.connection.dbapi_connection
    if raw.in_transaction:  # only store.prepared statements ran: SQLAlchemy saw no transaction to commit
        raw.commit()
    if lock is not None:
        lock.release()


def _rollback(conn: Connection) -> None:
    conn.rollback()
    raw = conn.connection.dbapi_connection
    if raw.in_transaction:
        raw.rollback()


def txgroup_for(engine: AsyncEngine, *, name: str = "txgroup", busy_timeout_ms: int = 10_000) -> TxGroup:
    """The group for a write engine: its own thread and connection on a SQLite file, else the engine itself."""
    path = sqlite_file(engine)
    if path is not None:
        return SqliteTxGroup(path, gate=engine, busy_timeout_ms=busy_timeout_ms, name=name)
    return EngineTxGroup(engine, name=name, parallel=1 if engine.url.drivername.startswith("sqlite") else 3)


Writer = AsyncEngine | TxGroup


async def write(target: Writer, work: Work[T]) -> T:
    """Run ``work`` in a transaction of ``target``: the group's next one, or a transaction of its own on an engine."""
    if isinstance(target, TxGroup):
        return await target.run(work)
    async with target.begin() as conn:
        return await work(conn)
