"""Upgrading through every migration gives exactly the schema of store.tables; downgrade to base works."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from hongyan.store import db
from hongyan.store.tables import metadata


def _diff(url: str) -> list:
    async def run() -> list:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrade_matches_tables(settings) -> None:
    db.upgrade(settings.database_url)
    assert _diff(settings.database_url) == []


def test_downgrade_to_base_and_up_again(settings) -> None:
    db.upgrade(settings.database_url)
    db.downgrade(settings.database_url, "base")
    db.upgrade(settings.database_url)
    assert _diff(settings.database_url) == []
