"""The counter backends against the same cases: exact limits, expiry, release, concurrency."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from hongyan.policy.counters import MemoryCounters, RedisCounters, Window

REDIS_URL = "redis://127.0.0.1:6379/15"


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["memory", "redis"])
async def backend(request):
    clock = Clock()
    if request.param == "memory":
        yield MemoryCounters(clock), clock, ""
        return
    counters = RedisCounters(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        await counters._redis.ping()
    except Exception as exc:
        await counters.close()
        pytest.skip(f"Redis not reachable: {exc}")
    yield counters, None, ""
    await counters.close()


async def test_limit_is_exact(backend) -> None:
    counters, _, _ = backend
    w = [Window("k", 3, 60_000)]
    assert [await counters.take(w) for _ in range(5)] == [None, None, None, 0, 0]


async def test_all_or_nothing(backend) -> None:
    counters, _, _ = backend
    assert await counters.take([Window("a", 5, 60_000), Window("b", 1, 60_000)]) is None
    assert await counters.take([Window("a", 5, 60_000), Window("b", 1, 60_000)]) == 1
    # "a" was not incremented by the refused take: 4 more fit, then it is full.
    assert [await counters.take([Window("a", 5, 60_000)]) for _ in range(5)] == [None, None, None, None, 0]


async def test_release_gives_a_unit_back(backend) -> None:
    counters, _, _ = backend
    w = [Window("r", 1, 60_000)]
    assert await counters.take(w) is None
    assert await counters.take(w) == 0
    await counters.release(["r"])
    assert await counters.take(w) is None


async def test_expiry(backend) -> None:
    counters, clock, _ = backend
    w = [Window("e", 1, 50)]
    assert await counters.take(w) is None
    assert await counters.take(w) == 0
    if clock is not None:
        clock.t += 0.06
    else:
        deadline = asyncio.get_running_loop().time() + 5
        while await counters.take(w) == 0:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        return
    assert await counters.take(w) is None


async def test_concurrent_takes(backend) -> None:
    counters, _, _ = backend
    results = await asyncio.gather(*[counters.take([Window("c", 5, 60_000)]) for _ in range(100)])
    assert results.count(None) == 5


async def test_incr(backend) -> None:
    counters, _, _ = backend
    assert [await counters.incr("i", 60_000) for _ in range(3)] == [1, 2, 3]
