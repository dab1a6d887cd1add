"""Engines: one URL selects SQLite (WAL, embedded) or PostgreSQL (asyncpg); migrations are applied here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - exercised by every sqlite test
        # Let SQLAlchemy, not the driver, emit BEGIN, so a writer can take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk (WAL fsync) before the client hears "accepted"; group commit pays for it.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn) -> None:  # pragma: no cover
        # Writers take the write lock at BEGIN (no deadlock between read-then-write transactions);
        # the read engine keeps deferred transactions so WAL readers never wait for the writer.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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


def create_engines(url: str, *, pool_size: int = 10) -> Engines:
    path = _sqlite_path(url)
    if make_url(url).drivername.startswith("sqlite"):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        write = create_async_engine(url, pool_size=1, max_overflow=4)
        read = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
        _sqlite_pragmas(write, immediate=True)
        _sqlite_pragmas(read, immediate=False)
        return Engines(read=read, write=write, is_sqlite=True)
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
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
