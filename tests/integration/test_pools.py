"""Connection pools and timeouts come from settings: pool size / overflow / timeout, PostgreSQL's
statement_timeout on every connection, SQLite's busy_timeout."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hongyan.services.platform import Platform
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
                assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 4321
    finally:
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
