"""``MemoryCounters``: the windowed counters of one process (the embedded default; ``policy.counters`` has the
interface and the shared implementations). Compiled with the Submit path (``hongyan.native``): its ``take_now`` runs
on every Submit."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from hongyan.domain.windows import OVER, Window

Clock = Callable[[], float]


class MemoryCounters:
    """In-process counters: key → (value, expiry). No await between a check and its increment.

    Finished windows are dropped incrementally: each key is filed under the whole second it expires in,
    and at most once per second of the clock the seconds that have passed are emptied, so the cost of
    expiry is O(1) per key however many numbers are being counted.
    """

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[int, float]] = {}
        self._expiring: dict[int, list[str]] = {}  # whole second of expiry → keys that may expire in it
        self._swept = 0  # every second before this one has been emptied

    def __len__(self) -> int:
        return len(self._values)

    def _bump(self, key: str, ttl_ms: int, now: float) -> int:
        hit = self._values.get(key)
        if hit is not None and hit[1] > now:
            self._values[key] = (hit[0] + 1, hit[1])
            return hit[0] + 1
        expires = now + ttl_ms / 1000
        self._values[key] = (1, expires)
        keys = self._expiring.get(int(expires))
        if keys is None:
            self._expiring[int(expires)] = [key]
        else:
            keys.append(key)
        return 1

    def _sweep(self, now: float) -> None:
        second = int(now)
        if second <= self._swept:
            return
        self._swept = second
        for due in [s for s in self._expiring if s < second]:
            for key in self._expiring.pop(due):
                hit = self._values.get(key)
                if hit is not None and hit[1] <= now:
                    del self._values[key]

    async def take(self, windows: Sequence[Window], counted: Window | None = None) -> int | None:
        return self.take_now(windows, counted)

    def take_now(self, windows: Sequence[Window], counted: Window | None = None) -> int | None:
        """``take`` without an await: in-process counters need no round trip (the Submit path calls this)."""
        now = self._clock()
        self._sweep(now)
        if counted is not None and self._bump(counted.key, counted.ttl_ms, now) > counted.limit:
            return OVER
        values = self._values
        for i, (key, limit, _ttl) in enumerate(windows):
            hit = values.get(key)
            if hit is not None and hit[1] > now and hit[0] >= limit:
                return i
        for key, _limit, ttl_ms in windows:
            self._bump(key, ttl_ms, now)
        return None

    async def release(self, keys: Sequence[str]) -> None:
        now = self._clock()
        for key in keys:
            hit = self._values.get(key)
            if hit is not None and hit[1] > now and hit[0] > 0:
                self._values[key] = (hit[0] - 1, hit[1])

    async def clear(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._values.pop(key, None)

    async def close(self) -> None:
        return None
