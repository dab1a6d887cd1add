"""The per-process copy of blacklists and the word automaton, reloaded when ``policy_version`` changes.

A background task polls the version (one tiny query) every ``poll_s``; changes made by this process
(the 408 auto-blacklist) are applied to the copy at once as well. The hot path reads only memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.domain.words import WordFilter
from hongyan.store import blacklist as blacklist_store
from hongyan.store import policy as store

log = logging.getLogger(__name__)


class PolicyState:
    def __init__(self, engine: AsyncEngine, *, poll_s: float = 1.0, write_engine: AsyncEngine | None = None) -> None:
        self._engine = engine
        self._write_engine = write_engine or engine
        # 408 entries added by this process → the load count when their commit finished (None: not yet).
        # A load that started before that commit may not have read them, so it keeps them in its copy.
        self._local: dict[tuple[int, str], int | None] = {}
        self._loads = 0
        self._poll_s = poll_s
        self.version = -1
        self.words = WordFilter()
        self._global: set[str] = set()
        self._per_account: dict[int, set[str]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    def is_blacklisted(self, account_id: int, mobile: str) -> bool:
        return mobile in self._global or mobile in self._per_account.get(account_id, ())

    async def blacklist_auto(self, account_id: int, mobile: str, reason: str) -> None:
        """The 408 rule: list the number for this account, visible to this process at once."""
        entry = (account_id, mobile)
        self._local[entry] = None
        self._per_account[account_id].add(mobile)
        try:
            async with self._write_engine.begin() as conn:
                await blacklist_store.add(conn, mobile, account_id, blacklist_store.AUTO408, reason)
        except Exception:  # still 408 now; listed in this process until the next reload
            self._local.pop(entry, None)
            log.exception("auto-blacklist not stored", extra={"account_id": account_id})
            return
        self._local[entry] = self._loads

    async def load(self) -> None:
        self._loads += 1
        started = self._loads
        async with self._engine.connect() as conn:
            version = await store.get_version(conn)
            if version == self.version:
                return
            rows = await blacklist_store.snapshot(conn)
            words = await store.all_words(conn)
        glob: set[str] = set()
        per: dict[int, set[str]] = defaultdict(set)
        for account_id, mobile in rows:
            (glob if account_id is None else per[account_id]).add(mobile)
        # keep this process's 408 entries that this load may have read too early (see __init__)
        self._local = {e: done for e, done in self._local.items() if done is None or done >= started}
        for account_id, mobile in self._local:
            per[account_id].add(mobile)
        self._global, self._per_account = glob, per
        self.words = WordFilter(words)
        self.version = version
        log.info("policy loaded", extra={"policy_version": version, "words": self.words.size})

    async def start(self) -> None:
        await self.load()
        self._task = asyncio.create_task(self._poll(), name="policy-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await self.load()
            except Exception:
                log.exception("policy reload failed")
