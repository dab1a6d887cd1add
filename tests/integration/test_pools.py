"""Connection pools and timeouts come from settings: pool size / overflow / timeout, PostgreSQL's
statement_timeout on every connection, SQLite's busy_timeout."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from hongyan.services.platform import Platform
from hongyan.store.db import WRITER_BUSY_STEP_MS
from tests.conftest import ON_POSTGRES


async def test_pool_and_timeouts_follow_settings(settings) -> None:
    tuned = settings.model_copy(
        update={
            "db_pool_size": 3,
            "db_max_overflow": 2,
            "db_pool_timeout_s": 7.0,
            "db_statement_timeout_s": 1.5,
            "sqlite_busy_timeout_ms": 4321,
        }
    )
    platform = await Platform.open(tuned)
    try:
        pool = platform.engines.read.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 2, 7.0)
        async with platform.engines.read.connect() as conn:
            if ON_POSTGRES:
                assert (await conn.execute(text("SHOW statement_timeout"))).scalar() == "1500ms"
            else:
                assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 4321
        async with platform.engines.write.connect() as conn:
            if not ON_POSTGRES:
                # writers poll the lock in BEGIN (store.db.on_begin) in short steps, for sqlite_busy_timeout_ms
                assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == WRITER_BUSY_STEP_MS
    finally:
        await platform.close()


@pytest.mark.skipif(ON_POSTGRES, reason="the SQLite write lock")
async def test_sqlite_writer_waits_for_the_lock_then_gives_up(settings) -> None:
    """Another process holding the write lock: BEGIN waits while it is held briefly, and fails after
    sqlite_busy_timeout_ms when it is not released."""
    platform = await Platform.open(settings.model_copy(update={"sqlite_busy_timeout_ms": 400}))
    path = make_url(settings.database_url).database
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.1, other.execute, "COMMIT")
        async with platform.engines.write.begin() as conn:  # released after 0.1 s: waits, then gets it
            await conn.execute(text("SELECT 1"))
        other.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            async with platform.engines.write.begin():
                pass
        assert time.monotonic() - t0 >= 0.4
        other.execute("COMMIT")
    finally:
        other.close()
        await platform.close()


@pytest.mark.skipif(not ON_POSTGRES, reason="statement_timeout is a PostgreSQL setting")
async def test_statement_timeout_cancels_a_runaway_query(settings) -> None:
    platform = await Platform.open(settings.model_copy(update={"db_statement_timeout_s": 0.2}))
    try:
        async with platform.engines.read.connect() as conn:
            with pytest.raises(DBAPIError, match="statement timeout"):
                await conn.execute(text("SELECT pg_sleep(5)"))
    finally:
        await platform.close()
