"""The running platform: settings, engines, key box, smsid generator, account cache and message writer."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from hongyan.domain.account import AccountView
from hongyan.domain.smsid import SmsIdGenerator
from hongyan.keys import KeyBox, load_keybox
from hongyan.pipeline.context import NOT_CACHED
from hongyan.policy.counters import Counters, SqliteCounters, counters_for
from hongyan.policy.state import PolicyState
from hongyan.settings import Settings
from hongyan.store import accounts as account_store
from hongyan.store.db import Engines, PoolConfig, create_engines, upgrade_async
from hongyan.store.messages import MessageWriter, SqliteCommitter, committer_for
from hongyan.store.nodes import claim_node


@dataclass
class AccountCache:
    """Account snapshots for ``ttl`` seconds. Changes made through this process invalidate at once;
    changes from another process (CLI, another worker) are seen within ``ttl``."""

    platform: Platform
    ttl: float
    _entries: dict[str, tuple[float, AccountView | None]] = field(default_factory=dict)
    _loading: dict[str, asyncio.Future[AccountView | None]] = field(default_factory=dict)

    async def __call__(self, api_id: str) -> AccountView | None:
        now = time.monotonic()
        hit = self._entries.get(api_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        pending = self._loading.get(api_id)
        if pending is not None:  # one query for a burst of requests from the same account
            return await asyncio.shield(pending)
        fut: asyncio.Future[AccountView | None] = asyncio.get_running_loop().create_future()
        self._loading[api_id] = fut
        try:
            view = await self.platform.load_account(api_id)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._loading.pop(api_id, None)
        if len(self._entries) > 100_000:
            self._entries.clear()
        self._entries[api_id] = (now + self.ttl, view)
        fut.set_result(view)
        return view

    def peek(self, api_id: str) -> AccountView | object | None:
        """The cached snapshot without awaiting (None: no such account), or ``NOT_CACHED`` when it would take
        a query (absent, expired, or being loaded): then call the cache."""
        hit = self._entries.get(api_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return NOT_CACHED

    def invalidate(self, api_id: str | None = None) -> None:
        if api_id is None:
            self._entries.clear()
        else:
            self._entries.pop(api_id, None)


class Platform:
    """Built once per process from settings (``await Platform.open(settings)``), closed on shutdown."""

    def __init__(self, settings: Settings, engines: Engines, keybox: KeyBox) -> None:
        self.settings = settings
        self.engines = engines
        self.keybox = keybox
        committer = committer_for(engines.write, is_sqlite=engines.is_sqlite)
        self.writer = MessageWriter(
            committer,
            batch_max=settings.commit_batch_max,
            balance_low=settings.balance_low_segments,
        )
        self.accounts = AccountCache(self, settings.account_cache_ttl_s)
        self.smsids: SmsIdGenerator | None = None
        self.clock = time.time
        self.policy = PolicyState(engines.read, poll_s=settings.policy_poll_s, write_engine=engines.write)
        self.counters: Counters = counters_for(
            redis_url=settings.redis_url,
            redis_prefix=settings.redis_prefix,
            backend=settings.counters,
            database_url=settings.database_url,
            engine=engines.write,
            clock=lambda: self.clock(),
        )
        if isinstance(self.counters, SqliteCounters) and isinstance(committer, SqliteCommitter):
            # the limits of a Submit are taken in the transaction that stores it: one turn of the file's write
            # lock per batch for both, instead of one for the counters and one for the messages
            self.counters.take_in_commit = True

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True, writer: bool = True) -> Platform:
        if migrate:
            await upgrade_async(settings.database_url)
        engines = create_engines(settings.database_url, pool=PoolConfig.from_settings(settings))
        platform = cls(settings, engines, load_keybox(settings))
        if writer:
            platform.smsids = SmsIdGenerator(await claim_node(engines.write))
            await platform.policy.start()
            await platform.writer.start()
        return platform

    async def close(self) -> None:
        await self.writer.stop()
        await self.policy.stop()
        await self.counters.close()
        await self.engines.dispose()

    async def load_account(self, api_id: str) -> AccountView | None:
        async with self.engines.read.connect() as conn:
            return await account_store.load_view(conn, api_id, self.keybox.decrypt)
