"""The counter backends against the same cases: exact limits, all-or-nothing, expiry, release, concurrency.

Memory and SQL run on an injected clock; Redis runs on its own server clock (short TTLs, polled with a
deadline) against the real server on 127.0.0.1:6379, under a per-test key prefix that is deleted after.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hongyan.policy.counters import (
    OVER,
    MemoryCounters,
    RedisCounters,
    SqlCounters,
    SqliteCounters,
    Window,
    counters_for,
    sql_counters,
)
from hongyan.store.db import create_engines, upgrade_async

REDIS_URL = "redis://127.0.0.1:6379/15"


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


async def _redis(prefix: str) -> RedisCounters:
    counters = RedisCounters(REDIS_URL, prefix=prefix)
    try:
        await counters._redis.ping()
    except Exception as exc:
        await counters.close()
        pytest.skip(f"Redis not reachable: {exc}")
    return counters


async def _drop_prefix(counters: RedisCounters, prefix: str) -> None:
    keys = [k async for k in counters._redis.scan_iter(match=prefix + "*")]
    if keys:
        await counters._redis.delete(*keys)


@pytest.fixture(params=["memory", "sql", "redis"])
async def backend(request, database_url):
    """(counters, clock or None when the backend keeps its own time)."""
    clock = Clock()
    if request.param == "memory":
        yield MemoryCounters(clock), clock
    elif request.param == "sql":
        await upgrade_async(database_url)
        engines = create_engines(database_url)
        counters = sql_counters(database_url, engines.write, clock)
        counters._sweep_every = 7  # exercise the sweep too
        yield counters, clock
        await counters.close()
        await engines.dispose()
    else:
        prefix = f"test:{uuid.uuid4().hex}:"
        counters = await _redis(prefix)
        yield counters, None
        await _drop_prefix(counters, prefix)
        await counters.close()


async def wait_until_free(counters, windows, clock: Clock | None, advance_s: float) -> None:
    """Move an injected clock on, or poll the backend's own expiry with a deadline."""
    if clock is not None:
        clock.t += advance_s
        assert await counters.take(windows) is None
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while await counters.take(windows) is not None:
        assert loop.time() < deadline, "window never expired"
        await asyncio.sleep(0.01)


async def test_limit_is_exact(backend) -> None:
    counters, _ = backend
    w = [Window("k", 3, 60_000)]
    assert [await counters.take(w) for _ in range(5)] == [None, None, None, 0, 0]


async def test_all_or_nothing(backend) -> None:
    counters, _ = backend
    assert await counters.take([Window("a", 5, 60_000), Window("b", 1, 60_000)]) is None
    assert await counters.take([Window("a", 5, 60_000), Window("b", 1, 60_000)]) == 1
    # "a" was not incremented by the refused take: 4 more fit, then it is full.
    assert [await counters.take([Window("a", 5, 60_000)]) for _ in range(5)] == [None, None, None, None, 0]


async def test_first_full_window_is_reported(backend) -> None:
    counters, _ = backend
    assert await counters.take([Window("x", 1, 60_000)]) is None
    assert await counters.take([Window("y", 1, 60_000)]) is None
    assert await counters.take([Window("z", 9, 60_000), Window("y", 1, 60_000), Window("x", 1, 60_000)]) == 1
    assert await counters.take([]) is None


async def test_release_gives_a_unit_back(backend) -> None:
    counters, _ = backend
    w = [Window("r", 1, 60_000), Window("r2", 2, 60_000)]
    assert await counters.take(w) is None
    assert await counters.take(w) == 0
    await counters.release(["r", "r2"])
    assert await counters.take(w) is None
    await counters.release(["never-taken"])
    await counters.release([])
    # never below zero: releasing twice does not make room for two
    await counters.release(["r"])
    await counters.release(["r"])
    assert await counters.take([Window("r", 1, 60_000)]) is None
    assert await counters.take([Window("r", 1, 60_000)]) == 0


async def test_expiry(backend) -> None:
    counters, clock = backend
    w = [Window("e", 1, 50)]
    assert await counters.take(w) is None
    assert await counters.take(w) == 0
    await wait_until_free(counters, w, clock, 0.06)
    assert await counters.take(w) == 0  # a fresh window, full again


async def test_window_keeps_its_first_expiry(backend) -> None:
    counters, clock = backend
    if clock is None:
        pytest.skip("needs an injected clock")
    w = [Window("f", 2, 1_000)]
    assert await counters.take(w) is None
    clock.t += 0.9
    assert await counters.take(w) is None  # same window: does not extend its life
    assert await counters.take(w) == 0
    clock.t += 0.2
    assert await counters.take(w) is None


async def test_release_after_expiry_is_harmless(backend) -> None:
    counters, clock = backend
    if clock is None:
        pytest.skip("needs an injected clock (Redis: a missing key is covered by test_release_gives_a_unit_back)")
    w = [Window("g", 2, 50)]
    assert await counters.take(w) is None
    clock.t += 0.06
    await counters.release(["g"])  # a unit given back to a window that is gone: no negative count
    assert [await counters.take(w) for _ in range(3)] == [None, None, 0]


async def test_concurrent_takes(backend) -> None:
    counters, _ = backend
    windows = [Window("c", 5, 60_000), Window("c-day", 1000, 60_000)]
    results = await asyncio.gather(*[counters.take(windows) for _ in range(100)])
    assert results.count(None) == 5 and results.count(0) == 95


async def test_counted_attempts(backend) -> None:
    """``counted`` is incremented on every take, even a refused one; past its limit nothing else is taken."""
    counters, clock = backend
    att = Window("att", 3, 60_000)
    w = [Window("w", 1, 60_000)]
    assert [await counters.take(w, counted=att) for _ in range(4)] == [None, 0, 0, OVER]
    assert await counters.take([Window("w2", 5, 60_000)], counted=att) == OVER
    assert await counters.take([Window("w2", 1, 60_000)]) is None  # the OVER took nothing from w2
    await counters.clear(["att"])
    assert await counters.take([], counted=att) is None  # counting starts again
    assert await counters.take([], counted=Window("att", 1, 50)) == OVER  # the count is 2 now
    if clock is not None:
        clock.t += 61
        assert await counters.take([], counted=att) is None
    await counters.clear([])


async def test_concurrent_counted_takes(backend) -> None:
    counters, _ = backend
    att = Window("att-c", 30, 60_000)
    results = await asyncio.gather(*[counters.take([Window("cc", 5, 60_000)], counted=att) for _ in range(100)])
    assert results.count(None) == 5 and results.count(0) == 25 and results.count(OVER) == 70


async def test_sql_counters_shared_by_processes(database_url) -> None:
    """Two processes (two engines, each with its own in-process lock) on one database: still exact."""
    await upgrade_async(database_url)
    e1, e2 = create_engines(database_url), create_engines(database_url)
    a, b = sql_counters(database_url, e1.write), sql_counters(database_url, e2.write)
    try:
        w = [Window("shared", 7, 60_000)]
        results = await asyncio.gather(*[(a if i % 2 else b).take(w) for i in range(60)])
        assert results.count(None) == 7
        await a.release(["shared"])
        assert await b.take(w) is None
    finally:
        await a.close()
        await b.close()
        await e1.dispose()
        await e2.dispose()


async def test_choice_by_settings(database_url) -> None:
    assert isinstance(counters_for(redis_url=None), MemoryCounters)
    engines = create_engines(database_url)
    sql = counters_for(redis_url=None, backend="sql", database_url=database_url, engine=engines.write)
    assert isinstance(sql, SqliteCounters if database_url.startswith("sqlite") else SqlCounters)
    await sql.close()
    await engines.dispose()
    with pytest.raises(ValueError, match="needs a database file"):
        counters_for(redis_url=None, backend="sql", database_url="sqlite+aiosqlite:///:memory:")
    redis = counters_for(redis_url=REDIS_URL, backend="sql", database_url=database_url)
    assert isinstance(redis, RedisCounters)  # Redis wins when configured
    await redis.close()
    with pytest.raises(ValueError, match="memory or sql"):
        counters_for(redis_url=None, backend="etcd")


# SqliteCounters commits the operations that queue up while a transaction is in flight in one transaction: the
# same answers as applying them one by one, whatever the mix.

_KEYS = ["k1", "k2", "k3"]
_op = st.one_of(
    st.tuples(
        st.just("take"),
        st.lists(st.tuples(st.sampled_from(_KEYS), st.integers(1, 4)), max_size=3, unique_by=lambda w: w[0]),
        st.none() | st.integers(1, 6),
    ),
    st.tuples(st.just("release"), st.lists(st.sampled_from(_KEYS), min_size=1, max_size=2, unique=True), st.none()),
    st.tuples(st.just("clear"), st.lists(st.sampled_from(_KEYS), min_size=1, max_size=2, unique=True), st.none()),
)


async def _apply_op(counters, prefix: str, op) -> object:
    kind, arg, counted = op
    if kind == "take":
        windows = [Window(prefix + k, limit, 60_000) for k, limit in arg]
        att = Window(prefix + "att", counted, 60_000) if counted is not None else None
        return await counters.take(windows, counted=att)
    if kind == "release":
        return await counters.release([prefix + k for k in arg])
    return await counters.clear([prefix + k for k in arg])


@pytest.fixture(scope="module")
def sqlite_counters_db(tmp_path_factory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('counters')}/c.db"
    asyncio.run(upgrade_async(url))
    return url.split("///", 1)[1]


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(_op, max_size=25))
def test_sqlite_batches_answer_as_one_by_one(sqlite_counters_db, ops) -> None:
    prefix = f"{uuid.uuid4().hex}:"

    async def both() -> tuple[list, list, int]:
        clock = Clock()
        one_by_one = MemoryCounters(clock)
        expected = [await _apply_op(one_by_one, prefix, op) for op in ops]
        sqlite = SqliteCounters(sqlite_counters_db, clock=clock, sweep_every=5)
        try:
            got = await asyncio.gather(*[_apply_op(sqlite, prefix, op) for op in ops])  # queued together
            return expected, got, sqlite.transactions
        finally:
            await sqlite.close()

    expected, got, transactions = asyncio.run(both())
    assert got == expected
    assert transactions <= min(len(ops), 2)  # the first op alone, then everything queued behind it


async def test_sqlite_failed_transaction_fails_its_operations_and_writes_nothing(sqlite_counters_db) -> None:
    clock = Clock()
    counters = SqliteCounters(sqlite_counters_db, clock=clock)
    try:
        w = [Window("fail:k", 5, 60_000)]
        assert await counters.take(w) is None
        counters._conn().execute("PRAGMA query_only=ON")  # the next INSERT fails inside the transaction
        results = await asyncio.gather(*[counters.take(w) for _ in range(3)], return_exceptions=True)
        assert all(isinstance(r, Exception) and "readonly" in str(r) for r in results)
        counters._conn().execute("PRAGMA query_only=OFF")
        assert not counters._conn().in_transaction
        assert [await counters.take(w) for _ in range(5)] == [None, None, None, None, 0]  # only the first counted
    finally:
        await counters.close()


SHARER = """
import asyncio, sys
from hongyan.policy.counters import SqliteCounters, Window

async def main():
    c = SqliteCounters(sys.argv[1])
    r = await asyncio.gather(*[c.take([Window("proc:k", 150, 60_000)]) for _ in range(200)])
    await c.close()
    print(r.count(None))

asyncio.run(main())
"""


async def test_sqlite_counters_exact_across_real_processes(sqlite_counters_db) -> None:
    """Another process takes from the same window at the same time (each through its own write-lock queue)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SHARER, sqlite_counters_db, stdout=asyncio.subprocess.PIPE
    )
    counters = SqliteCounters(sqlite_counters_db)
    try:
        mine = 0
        for _ in range(10):
            r = await asyncio.gather(*[counters.take([Window("proc:k", 150, 60_000)]) for _ in range(20)])
            mine += r.count(None)
        out, _ = await asyncio.wait_for(child.communicate(), 60)
        assert mine + int(out) == 150
        assert counters.transactions >= 10
    finally:
        await counters.close()
