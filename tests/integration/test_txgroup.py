"""The shared delivery transaction (store.txgroup): works queued together commit together, each caller hears its own
result after the commit, a bad work fails alone, and on SQLite the group takes turns with the write engine's users
and waits for another process's lock without stalling the event loop."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import func, insert, select, text

from hongyan.store.clock import now_ms
from hongyan.store.db import sqlite_file
from hongyan.store.delivery import ReceiptIn, apply_receipts
from hongyan.store.tables import pending_receipts, unparsed_deliveries
from hongyan.store.txgroup import SqliteTxGroup, TxGroup, txgroup_for
from hongyan.store.writelock import WriteLock


def _row(reason: str) -> dict:
    return {
        "channel": "t",
        "command": "deliver_sm",
        "source_addr": "1",
        "destination_addr": "2",
        "esm_class": 0,
        "data_coding": 0,
        "payload_hex": "",
        "tlvs": "{}",
        "reason": reason,
        "received_at": now_ms(),
    }


def _insert(reason: str):
    async def work(conn) -> str:
        await conn.execute(insert(unparsed_deliveries), [_row(reason)])
        return reason

    return work


async def _reasons(platform) -> list[str]:
    async with platform.engines.read.connect() as conn:
        return sorted(r.reason for r in await conn.execute(select(unparsed_deliveries.c.reason)))


@pytest.fixture
async def group(platform):
    g = txgroup_for(platform.engines.write, name="test-tx")
    yield g
    await g.close()


async def test_works_queued_together_share_one_commit_and_get_their_own_results(platform, group: TxGroup) -> None:
    first = asyncio.ensure_future(group.run(_insert("first")))  # its transaction starts at once
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(group.run(_insert(f"r{i}"))) for i in range(20)]  # queue up behind it
    assert await first == "first"
    assert [await f for f in rest] == [f"r{i}" for i in range(20)]
    assert await _reasons(platform) == sorted(["first"] + [f"r{i}" for i in range(20)])
    assert group.works == 21 and group.transactions < 21


async def test_a_failing_work_fails_alone(platform, group: TxGroup) -> None:
    async def bad(conn) -> None:
        await conn.execute(insert(unparsed_deliveries), [_row("bad")])
        await conn.execute(text("SELECT * FROM no_such_table"))

    first = asyncio.ensure_future(group.run(_insert("first")))
    await asyncio.sleep(0)
    batch = [group.run(_insert("a")), group.run(bad), group.run(_insert("b"))]
    results = await asyncio.gather(*batch, return_exceptions=True)
    await first
    assert results[0] == "a" and results[2] == "b" and isinstance(results[1], Exception)
    # the bad work's first statement was rolled back with it; its neighbours were written once each
    assert await _reasons(platform) == ["a", "b", "first"]


async def test_a_work_that_awaits_anything_but_its_connection_is_refused_on_sqlite(platform, group: TxGroup) -> None:
    if not isinstance(group, SqliteTxGroup):
        pytest.skip("only the SQLite group drives works without suspending")

    async def sleeper(conn) -> None:
        await conn.execute(insert(unparsed_deliveries), [_row("sleeper")])
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something other than its connection"):
        await group.run(sleeper)
    assert await _reasons(platform) == []


async def test_store_functions_write_through_a_group(platform, group: TxGroup) -> None:
    # an unknown carrier id is kept; through the group exactly as through the engine
    assert await apply_receipts(group, [ReceiptIn("sim", "abc", "DELIVRD", mobile="8613800000000")]) == []
    async with platform.engines.read.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(pending_receipts))).scalar_one() == 1


async def test_sqlite_group_takes_turns_with_the_write_engine(platform, group: TxGroup) -> None:
    if not isinstance(group, SqliteTxGroup):
        pytest.skip("SQLite only: the write engine's single connection is the turn")
    async with platform.engines.write.connect():  # what the accept path's committer holds while it commits
        pending = asyncio.ensure_future(group.run(_insert("waited")))
        for _ in range(50):
            await asyncio.sleep(0)
        assert not pending.done()  # waiting for its turn, not in SQLite's busy handler
    assert await pending == "waited"


async def test_sqlite_group_leaves_the_write_engine_alone_when_nobody_holds_it(platform, group: TxGroup) -> None:
    """Idle write engine: the group commits without checking its connection out (the checkout and the ROLLBACK on
    its return were a pool round trip per transaction); the writers are still ordered by the file's lock."""
    if not isinstance(group, SqliteTxGroup):
        pytest.skip("SQLite only")
    pool = platform.engines.write.sync_engine.pool
    checkouts = []
    original = pool._do_get

    def counting():
        checkouts.append(1)
        return original()

    pool._do_get = counting
    try:
        assert await asyncio.gather(group.run(_insert("a")), group.run(_insert("b"))) == ["a", "b"]
        assert checkouts == []
    finally:
        pool._do_get = original
    assert await _reasons(platform) == ["a", "b"]


async def test_sqlite_group_waits_for_another_process_lock_without_blocking_the_loop(platform, group) -> None:
    if not isinstance(group, SqliteTxGroup):
        pytest.skip("SQLite only")
    other = sqlite3.connect(sqlite_file(platform.engines.write), isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        pending = asyncio.ensure_future(group.run(_insert("after the lock")))
        ticks = 0
        while ticks < 20:  # the loop keeps running while the group waits on its thread
            await asyncio.sleep(0.01)
            ticks += 1
        assert not pending.done()
        other.execute("COMMIT")
        assert await pending == "after the lock"
    finally:
        other.close()
    assert await _reasons(platform) == ["after the lock"]


async def test_sqlite_group_queues_behind_another_writer_of_the_file_lock(platform, group) -> None:
    """Another process's batch writer holds the file's write-lock queue (store.writelock): the group waits for it on
    its thread, the event loop keeps running, and it writes the moment the holder lets go."""
    if not isinstance(group, SqliteTxGroup):
        pytest.skip("SQLite only")
    other = WriteLock(sqlite_file(platform.engines.write))
    other.acquire()
    try:
        pending = asyncio.ensure_future(group.run(_insert("after the queue")))
        for _ in range(20):
            await asyncio.sleep(0.01)  # the loop runs meanwhile
        assert not pending.done()
    finally:
        other.release()
    assert await pending == "after the queue"
    assert other.try_acquire()  # the group let go after its commit
    other.close()
    assert await _reasons(platform) == ["after the queue"]
