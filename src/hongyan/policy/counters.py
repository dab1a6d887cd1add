"""Windowed counters behind one small interface: in-process (embedded, one process) or Redis (production).

``take`` is all-or-nothing: it checks every (key, limit) and increments them all only when none would
pass its limit, atomically (the in-process one never awaits in the middle; the Redis one is a Lua
script), so N concurrent requests against a limit of k accept exactly k. ``release`` gives a taken unit
back when a later step (the balance) refuses the message, so counts stay exact. ``incr`` counts
attempts without a limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Window:
    key: str
    limit: int
    ttl_ms: int


class Counters(Protocol):
    async def take(self, windows: Sequence[Window]) -> int | None:
        """Increment every window, or none; returns the index of the first window that is full."""
        ...

    async def release(self, keys: Sequence[str]) -> None: ...

    async def incr(self, key: str, ttl_ms: int) -> int: ...

    async def close(self) -> None: ...


class MemoryCounters:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[int, float]] = {}
        self._ops = 0

    def _get(self, key: str, now: float) -> int:
        hit = self._values.get(key)
        if hit is None or hit[1] <= now:
            return 0
        return hit[0]

    def _sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % 10_000 == 0:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}

    async def take(self, windows: Sequence[Window]) -> int | None:
        now = self._clock()
        for i, w in enumerate(windows):
            if self._get(w.key, now) + 1 > w.limit:
                return i
        for w in windows:
            current = self._values.get(w.key)
            if current is None or current[1] <= now:
                self._values[w.key] = (1, now + w.ttl_ms / 1000)
            else:
                self._values[w.key] = (current[0] + 1, current[1])
        self._sweep(now)
        return None

    async def release(self, keys: Sequence[str]) -> None:
        now = self._clock()
        for key in keys:
            hit = self._values.get(key)
            if hit is not None and hit[1] > now and hit[0] > 0:
                self._values[key] = (hit[0] - 1, hit[1])

    async def incr(self, key: str, ttl_ms: int) -> int:
        now = self._clock()
        hit = self._values.get(key)
        value = 1 if hit is None or hit[1] <= now else hit[0] + 1
        self._values[key] = (value, now + ttl_ms / 1000 if value == 1 else hit[1])  # type: ignore[index]
        self._sweep(now)
        return value

    async def close(self) -> None:
        return None


_TAKE = """
for i = 1, #KEYS do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  if v + 1 > tonumber(ARGV[2 * i - 1]) then return i end
end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i]) end
end
return 0
"""

_RELEASE = """
for i = 1, #KEYS do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  if v > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""

_INCR = """
local v = redis.call('INCR', KEYS[1])
if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
"""


class RedisCounters:
    """Counters in Redis, shared by every process; each operation is one atomic Lua script."""

    def __init__(self, url: str, prefix: str = "hongyan:") -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix
        self._take = self._redis.register_script(_TAKE)
        self._release = self._redis.register_script(_RELEASE)
        self._incr = self._redis.register_script(_INCR)

    async def take(self, windows: Sequence[Window]) -> int | None:
        args: list[int] = []
        for w in windows:
            args += [w.limit, w.ttl_ms]
        full = int(await self._take(keys=[self._prefix + w.key for w in windows], args=args))
        return None if full == 0 else full - 1

    async def release(self, keys: Sequence[str]) -> None:
        if keys:
            await self._release(keys=[self._prefix + k for k in keys])

    async def incr(self, key: str, ttl_ms: int) -> int:
        return int(await self._incr(keys=[self._prefix + key], args=[ttl_ms]))

    async def close(self) -> None:
        await self._redis.aclose()


def counters_for(redis_url: str | None, clock: Callable[[], float] = time.time) -> Counters:
    return RedisCounters(redis_url) if redis_url else MemoryCounters(clock)
