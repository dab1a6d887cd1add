"""The SQLite group commit: it queues for the write engine's connection only when a worker of this process holds
it, else takes the file's write lock directly; either way every message of the batch and its ledger row land."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import func, select, text

from hongyan.domain.windows import Take, Window
from hongyan.store.messages import NewMessage, SqliteCommitter
from hongyan.store.tables import ledger, messages
from hongyan.store.writelock import WriteLock
from tests.conftest import ON_POSTGRES, Creds

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="the SQLite committer")


def _message(account_id: int, i: int) -> NewMessage:
    return NewMessage(f"{i:020d}", account_id, "13800138000", "mobile", "【鸿雁科技】hi", "鸿雁科技", None, 1)


class CountingGate:
    """The write engine, counting the committer's checkouts of its connection."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.sync_engine = engine.sync_engine
        self.checkouts = 0

    @asynccontextmanager
    async def connect(self):
        self.checkouts += 1
        async with self.engine.connect() as conn:
            yield conn


async def _account_id(platform, creds: Creds) -> int:
    async with platform.engines.read.connect() as conn:
        return (await conn.execute(text("SELECT id FROM accounts WHERE api_id = :a"), {"a": creds.account})).scalar()


async def _counts(platform) -> tuple[int, int]:
    async with platform.engines.read.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(messages))).scalar()
        d = (await conn.execute(select(func.count()).select_from(ledger).where(ledger.c.kind == "deduct"))).scalar()
    return n, d


async def test_no_checkout_when_no_worker_writes(platform, live: Creds) -> None:
    gate = CountingGate(platform.engines.write)
    committer = SqliteCommitter(platform.engines.write.url.database, gate=gate)  # type: ignore[arg-type]
    aid = await _account_id(platform, live)
    try:
        done = await committer.commit([_message(aid, i) for i in range(700)])
    finally:
        await committer.close()
    assert done.verdicts == [True] * 700 and done.taken == {aid: 700}
    assert gate.checkouts == 0
    assert await _counts(platform) == (700, 700)


async def test_queues_behind_a_worker_holding_the_write_connection(platform, live: Creds) -> None:
    gate = CountingGate(platform.engines.write)
    committer = SqliteCommitter(platform.engines.write.url.database, gate=gate)  # type: ignore[arg-type]
    aid = await _account_id(platform, live)
    try:
        async with platform.engines.write.begin() as conn:  # a worker's write transaction holds the lock
            await conn.execute(text("UPDATE accounts SET updated_at = updated_at WHERE id = :a"), {"a": aid})
            task = asyncio.create_task(committer.commit([_message(aid, 1), _message(aid, 2)]))
            deadline = asyncio.get_running_loop().time() + 5
            while gate.checkouts == 0 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.001)
            assert gate.checkouts == 1  # it asks the pool for the connection (and waits there) ...
            assert not task.done()  # ... until the worker's transaction ends
        done = await task
    finally:
        await committer.close()
    assert done.verdicts == [True, True]
    assert gate.checkouts == 1
    assert await _counts(platform) == (2, 2)


async def test_waits_in_the_file_lock_queue_of_another_process(platform, live: Creds) -> None:
    """Another process's writer holds the write-lock queue (store.writelock): the batch waits on the committer's
    thread, not in SQLite's busy handler, and commits once it is let go."""
    path = platform.engines.write.url.database
    committer = SqliteCommitter(path, gate=platform.engines.write)
    other = WriteLock(path)
    aid = await _account_id(platform, live)
    other.acquire()
    try:
        task = asyncio.create_task(committer.commit([_message(aid, 1)]))
        await asyncio.sleep(0.2)
        assert not task.done()
        assert await _counts(platform) == (0, 0)
        other.release()
        done = await asyncio.wait_for(task, 10)
    finally:
        other.close()
        await committer.close()
    assert done.verdicts == [True]
    assert await _counts(platform) == (1, 1)


async def _counters(platform) -> dict[str, int]:
    async with platform.engines.read.connect() as conn:
        return dict((await conn.execute(text("SELECT key, value FROM counters"))).all())


async def _set_balance(platform, aid: int, balance: int) -> None:
    async with platform.engines.write.begin() as conn:
        await conn.execute(text("UPDATE accounts SET balance = :b WHERE id = :a"), {"a": aid, "b": balance})


async def test_takes_are_applied_in_the_batch_transaction(platform, live: Creds) -> None:
    """Messages carrying a take (``HONGYAN_COUNTERS=sql`` on SQLite): refused ones are not stored, one the balance
    refuses gives its windows back, and the counters commit with the messages."""
    path = platform.engines.write.url.database
    committer = SqliteCommitter(path, gate=platform.engines.write)
    aid = await _account_id(platform, live)
    day = Window("day:x", 2, 3_600_000)
    take = Take([day], Window("att:x", 10, 3_600_000))
    await _set_balance(platform, aid, 3)
    batch = [dataclasses.replace(_message(aid, i), take=take, segments=1 if i < 3 else 5) for i in range(4)]
    batch[3] = dataclasses.replace(batch[3], take=None, segments=1)  # no take: only the balance decides
    try:
        done = await committer.commit(batch)
        # 0, 1: taken and stored; 2: the day window is full (index 0); 3: stored without a take
        assert done.verdicts == [True, True, False, True] and done.limited == {2: 0}
        assert await _counters(platform) == {"day:x": 2, "att:x": 3}
        assert await _counts(platform) == (3, 3)
        # a failing batch (a duplicate smsid) writes none of its takes
        await _set_balance(platform, aid, 10)
        with pytest.raises(sqlite3.IntegrityError):
            fresh = Take([Window("day:z", 5, 3_600_000)], Window("att:x", 10, 3_600_000))
            await committer.commit([dataclasses.replace(_message(aid, 0), take=fresh)])
        assert await _counters(platform) == {"day:x": 2, "att:x": 3}
        # the balance (none left) refuses a taken message: its window is given back, the attempt stays counted
        await _set_balance(platform, aid, 0)
        other = Take([Window("day:y", 5, 3_600_000)], Window("att:x", 10, 3_600_000))
        done = await committer.commit([dataclasses.replace(_message(aid, 9), take=other)])
        assert done.verdicts == [False] and done.limited == {}
        assert await _counters(platform) == {"day:x": 2, "att:x": 4, "day:y": 0}
    finally:
        await committer.close()
