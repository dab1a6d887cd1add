"""Shared fixtures: a platform on a fresh database per test, an HTTP client for it, demo accounts."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from hongyan.api.app import create_app
from hongyan.services import accounts as account_service
from hongyan.services.platform import Platform
from hongyan.settings import Settings

SIGNATURE = "鸿雁科技"
MOBILE = "13800138000"


@pytest.fixture
def settings(tmp_path) -> Settings:
    url = os.environ.get("HONGYAN_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_path}/hongyan.db"
    return Settings(database_url=url, var_dir=tmp_path, secret_key="test-secret", _env_file=None)


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
