"""Engines: one URL selects SQLite (WAL, embedded) or PostgreSQL (asyncpg); migrations are applied here."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


WRITER_BUSY_STEP_MS = 3  # SQLite's busy handler sleeps 1 ms then 2 ms, then BEGIN IMMEDIATE is tried again


def is_busy(exc: BaseException | None) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED, as the sqlite3 module words them."""
    text = str(exc)
    return "database is locked" in text or "database table is locked" in text or "database is busy" in text


def ensure_wal(con, timeout_s: float = 10.0) -> None:
    """Put a sqlite3 (DB-API) connection's database in WAL mode. Asked first (in WAL mode the switch is skipped), and
    retried while busy: ``PRAGMA journal_mode=WAL`` can answer "database is locked" at once, without waiting in
    the busy handler, while another process opens the same file (seen once in the suite: two counters on a file)."""
    cur = con.cursor()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                cur.execute("PRAGMA journal_mode")
                if str(cur.fetchone()[0]).lower() != "wal":
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.fetchall()
                return
            except Exception as exc:  # sqlite3's OperationalError, or the same wrapped by SQLAlchemy's adapter
                if not is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)
    finally:
        cur.close()


def begin_immediate(con, timeout_s: float) -> None:
    """``BEGIN IMMEDIATE`` on a plain sqlite3 connection whose busy timeout is WRITER_BUSY_STEP_MS, retried
    until ``timeout_s``: the lock is polled every few ms instead of in SQLite's growing sleeps."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            con.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool, busy_timeout_ms: int = 10_000) -> None:
    _sqlite_sync_pragmas(engine.sync_engine, immediate=immediate, busy_timeout_ms=busy_timeout_ms)


def sqlite_writer_pragmas(engine: Engine, *, busy_timeout_ms: int = 10_000) -> None:
    """The write engine's connection set-up (WAL, synchronous=FULL, foreign keys, a busy timeout of
    WRITER_BUSY_STEP_MS) on a plain (pysqlite) engine whose user opens its own transactions (``begin_immediate``)."""
    _sqlite_sync_pragmas(engine, immediate=True, busy_timeout_ms=busy_timeout_ms, begin=False)


def sqlite_sync_writer(path: str, *, busy_timeout_ms: int = 10_000) -> Engine:
    """A one-connection pysqlite engine on ``path`` with the writer's pragmas; its user issues BEGIN itself."""
    engine = create_engine(f"sqlite:///{path}", pool_size=1, max_overflow=0, connect_args={"check_same_thread": False})
    sqlite_writer_pragmas(engine, busy_timeout_ms=busy_timeout_ms)
    return engine


def pool_busy(engine: AsyncEngine) -> bool:
    """Whether a connection of the engine's pool is checked out (someone in this process is using it; on a SQLite
    write engine, someone may be writing). True when the pool cannot tell."""
    checkedout = getattr(engine.sync_engine.pool, "checkedout", None)
    return checkedout is None or checkedout() > 0


def sqlite_file(engine: AsyncEngine) -> str | None:
    """The database file of a SQLite engine; None for PostgreSQL and in-memory databases."""
    url = engine.url
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return None
    return url.database


def _sqlite_sync_pragmas(engine: Engine, *, immediate: bool, busy_timeout_ms: int, begin: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - exercised by every sqlite test
        # Let SQLAlchemy, not the driver, emit BEGIN, so a writer can take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        ensure_wal(dbapi_conn)
        # FULL: a commit is on disk (WAL fsync) before the client hears "accepted"; group commit pays for it.
        cur.execute("PRAGMA synchronous=FULL")
        # Writers wait for the lock in BEGIN (below) in short steps; SQLite's own busy handler sleeps up to
        # 100 ms a try, which halved throughput when two processes shared the file.
        cur.execute(f"PRAGMA busy_timeout={WRITER_BUSY_STEP_MS if immediate else int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    if not begin:
        return

    @event.listens_for(engine, "begin")
    def on_begin(conn) -> None:  # pragma: no cover
        # Writers take the write lock at BEGIN (no deadlock between read-then-write transactions);
        # the read engine keeps deferred transactions so WAL readers never wait for the writer.
        if not immediate:
            conn.exec_driver_sql("BEGIN")
            return
        deadline = time.monotonic() + busy_timeout_ms / 1000
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if not is_busy(exc.orig) or time.monotonic() >= deadline:
                    raise


@dataclass
class Engines:
    """The read and write engines; on PostgreSQL they are the same pool."""

    read: AsyncEngine
    write: AsyncEngine
    is_sqlite: bool

    async def dispose(self) -> None:
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()


@dataclass(frozen=True)
class PoolConfig:
    """Connection pool and timeouts of one process (from the ``HONGYAN_DB_*`` settings)."""

    size: int = 10
    max_overflow: int = 10
    timeout_s: float = 30.0
    statement_timeout_s: float = 30.0  # PostgreSQL only; 0 = none
    sqlite_busy_timeout_ms: int = 10_000

    @classmethod
    def from_settings(cls, settings) -> PoolConfig:
        return cls(
            size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            timeout_s=settings.db_pool_timeout_s,
            statement_timeout_s=settings.db_statement_timeout_s,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        )


def create_engines(url: str, *, pool_size: int | None = None, pool: PoolConfig | None = None) -> Engines:
    pool = pool or PoolConfig()
    if pool_size is not None:
        pool = replace(pool, size=pool_size, max_overflow=pool_size)
    path = _sqlite_path(url)
    if make_url(url).drivername.startswith("sqlite"):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # One writer connection at a time is all SQLite allows; the overflow only queues at the file lock.
        # One write connection per process: SQLite has one writer at a time anyway, and queueing for the pool
        # (asyncio, FIFO) is far cheaper than SQLite's busy handler; the message committer takes the same slot.
        write = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=max(pool.timeout_s, 60))
        read = create_async_engine(
            url, pool_size=pool.size, max_overflow=pool.max_overflow, pool_timeout=pool.timeout_s
        )
        _sqlite_pragmas(write, immediate=True, busy_timeout_ms=pool.sqlite_busy_timeout_ms)
        _sqlite_pragmas(read, immediate=False, busy_timeout_ms=pool.sqlite_busy_timeout_ms)
        return Engines(read=read, write=write, is_sqlite=True)
    connect_args: dict = {}
    if pool.statement_timeout_s > 0:
        # Server side: a runaway query (or a lock wait) is cancelled by PostgreSQL and its locks released.
        connect_args["server_settings"] = {"statement_timeout": str(int(pool.statement_timeout_s * 1000))}
    engine = create_async_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_s,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    return Engines(read=engine, write=engine, is_sqlite=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (creates the SQLite file and its folder when missing)."""
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    """Run migrations from async code (Alembic's env drives its own event loop, so use a thread)."""
    await asyncio.to_thread(upgrade, url)
