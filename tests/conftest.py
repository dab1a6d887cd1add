"""Shared fixtures: a platform on a fresh database per test, an HTTP client for it, demo accounts."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import make_url

from hongyan.api.app import create_app
from hongyan.services import accounts as account_service
from hongyan.services.platform import Platform
from hongyan.settings import Settings

SIGNATURE = "鸿雁科技"
MOBILE = "13800138000"


# HONGYAN_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test runs the suite on PostgreSQL:
# the schema is migrated once into a template database, and every test gets a fresh clone of it.
PG_URL = os.environ.get("HONGYAN_TEST_DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith("postgresql")
_TEMPLATE_DB = f"hongyan_tpl_{os.getpid()}"


async def _admin(sql: str) -> None:
    import asyncpg

    u = make_url(PG_URL)
    conn = await asyncpg.connect(host=u.host, port=u.port or 5432, user=u.username, database=u.database)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    if not ON_POSTGRES:
        yield None
        return
    from hongyan.store.db import upgrade

    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {_TEMPLATE_DB}"))
    asyncio.run(_admin(f"CREATE DATABASE {_TEMPLATE_DB}"))
    url = make_url(PG_URL).set(database=_TEMPLATE_DB).render_as_string(hide_password=False)
    upgrade(url)
    yield _TEMPLATE_DB
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {_TEMPLATE_DB} WITH (FORCE)"))


@pytest.fixture
def database_url(tmp_path, pg_template) -> Iterator[str]:
    if pg_template is None:
        yield f"sqlite+aiosqlite:///{tmp_path}/hongyan.db"
        return
    name = f"hy_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}"))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# Most tests send many messages to one number: they run with the frequency limits out of the way; the
# limits tests use `strict_settings`.
RELAXED_LIMITS = {
    "limit_per_second": 100_000,
    "limit_daily": 100_000,
    "limit_daily_codes": 100_000,
    "limit_daily_ceiling": 1_000_000,
}


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(
        database_url=database_url, var_dir=tmp_path, secret_key="test-secret", _env_file=None, **RELAXED_LIMITS
    )


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    p = await Platform.open(settings)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(platform.settings, platform=platform)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://106.ihuyi.com") as c:
        yield c


@dataclass
class Creds:
    account: str
    apikey: str


@pytest.fixture
async def live(platform: Platform) -> Creds:
    """A live account with 1,000 segments and the approved signature 鸿雁科技."""
    c = await account_service.create_account(platform, "live-co", balance=1000, live=True)
    await account_service.add_signature(platform, c.account, SIGNATURE, approve=True)
    return Creds(c.account, c.apikey)


@pytest.fixture
async def trial(platform: Platform) -> Creds:
    """A new account in test mode (50 free segments)."""
    c = await account_service.create_account(platform, "trial-co")
    return Creds(c.account, c.apikey)


@pytest.fixture
def client_factory(settings: Settings):
    """A fresh platform + client per call, for hypothesis tests that cannot use function-scoped fixtures."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def make():
        p = await Platform.open(settings)
        try:
            app = create_app(settings, platform=p)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://106.ihuyi.com") as c:
                yield c
        finally:
            await p.close()

    return make


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """``clone(url) -> url``: fills a fresh SQLite file from one database migrated once per session.

    Cloning (sqlite3 backup) instead of migrating every test's file saves ~0.2 s of Alembic per test. A module
    opts in by overriding ``database_url`` with ``migrated_sqlite(database_url)``; on PostgreSQL (already a
    clone of a migrated template) the URL is returned unchanged.
    """
    if ON_POSTGRES:
        return lambda url: url
    import sqlite3

    from hongyan.store.db import upgrade

    template = tmp_path_factory.mktemp("migrated") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{template}")

    def clone(url: str) -> str:
        target = make_url(url).database
        if not url.startswith("sqlite") or not target:
            return url
        src, dst = sqlite3.connect(template), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return url

    return clone
