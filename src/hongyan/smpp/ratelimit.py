"""A token bucket for submits per second, fair to concurrent waiters (each reserves its own slot in time)."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; ``rate`` None or <= 0 means unlimited.

    ``acquire`` takes a token now if one is there, else reserves the next one (the balance may go negative)
    and sleeps until it is due, so N concurrent callers are spread evenly instead of waking together.
    """

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1.0, burst if burst is not None else (self.rate or 1.0) / 20)
        self._tokens = self.burst
        self._stamp = time.monotonic()

    def set_rate(self, rate: float | None, burst: float | None = None) -> None:
        self._refill()
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1.0, burst if burst is not None else (self.rate or 1.0) / 20)
        self._tokens = min(self._tokens, self.burst)

    def _refill(self) -> float:
        now = time.monotonic()
        if self.rate is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return now

    def try_acquire(self) -> bool:
        """Take a token if one is available now (never waits, never goes negative)."""
        if self.rate is None:
            return True
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def reserve(self) -> float:
        """Take a token, possibly on credit; returns how many seconds to wait before using it."""
        if self.rate is None:
            return 0.0
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
