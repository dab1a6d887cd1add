"""A token bucket for submits per second, fair to concurrent waiters (each reserves its own slot in time)."""

from __future__ import annotations

import asyncio
import time
from collections import deque


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; ``rate`` None or <= 0 means unlimited.

    Waiters queue in order and a single timer hands out tokens as they accrue, so N concurrent callers are spread
    evenly, and a rate change (see :class:`ThrottleControl`) takes effect for those already waiting.
    """

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1.0, burst if burst is not None else (self.rate or 1.0) / 20)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def set_rate(self, rate: float | None, burst: float | None = None) -> None:
        self._refill()
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1.0, burst if burst is not None else (self.rate or 1.0) / 20)
        self._tokens = min(self._tokens, self.burst)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._schedule()

    def _refill(self) -> None:
        now = time.monotonic()
        if self.rate is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_acquire(self) -> bool:
        """Take a token if one is available now (never waits)."""
        if self.rate is None:
            return True
        self._refill()
        if self._tokens >= 1.0 and not self._waiters:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a token (at once when one is there and nobody is queued)."""
        if not self._waiters and self.try_acquire():
            return
        loop = self._loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self._schedule()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and self.rate is not None:
                self._tokens += 1.0  # handed a token as we were cancelled: give it back
            raise

    def _schedule(self) -> None:
        if self._timer is not None or not self._waiters or self._loop is None:
            return
        if self.rate is None:
            delay = 0.0
        else:
            self._refill()
            delay = max(0.0, (1.0 - self._tokens) / self.rate)
        self._timer = self._loop.call_later(delay, self._dispense)

    def _dispense(self) -> None:
        self._timer = None
        self._refill()
        waiters = self._waiters
        while waiters and (self.rate is None or self._tokens >= 1.0):
            waiter = waiters.popleft()
            if waiter.done():
                continue
            if self.rate is not None:
                self._tokens -= 1.0
            waiter.set_result(None)
        self._schedule()


class ThrottleControl:
    """Reaction to ESME_RTHROTTLED / ESME_RMSGQFUL: slow down instead of failing.

    A throttle answer to a request sent after the last adjustment is news: the send rate drops to 70 % of what
    the SMSC accepted over the last second (or of the current limit), and sending pauses briefly; the pause
    doubles only while nothing at all gets through. Answers to requests already in flight at the last
    adjustment only wait out the pause. Each success lets the rate grow back (+5 % per 0.1 s) up to ``ceiling``
    (None: no ceiling: the limit lifts once it has grown well past the last throttled rate).
    """

    def __init__(self, bucket: TokenBucket, ceiling: float | None, min_pause_s: float, max_pause_s: float) -> None:
        self.bucket = bucket
        self.ceiling = ceiling
        self.min_pause_s = min_pause_s
        self.max_pause_s = max_pause_s
        self.pause_until = 0.0
        self._pause = min_pause_s
        self._last_adjust = -1e18
        self._last_cut = -1e18
        self._last_grow = 0.0
        self._floor_hit: float | None = None
        self._successes: deque[float] = deque()

    def on_success(self, now: float) -> None:
        self._pause = self.min_pause_s
        successes = self._successes
        successes.append(now)
        while successes and now - successes[0] > 1.0:
            successes.popleft()
        rate = self.bucket.rate
        if rate is None or now - self._last_grow < 0.1 or (self.ceiling is not None and rate >= self.ceiling):
            return
        self._last_grow = now
        grown = rate * 1.05 + 1
        if self.ceiling is not None:
            self.bucket.set_rate(min(self.ceiling, grown))
        elif self._floor_hit is not None and grown > 4 * self._floor_hit:
            self.bucket.set_rate(None)  # far above where the SMSC pushed back: unlimited again
        else:
            self.bucket.set_rate(grown)

    def on_throttled(self, sent_at: float, now: float) -> None:
        if sent_at < self._last_adjust or now - self._last_cut < 0.1:
            # in flight before the last adjustment, or too soon to judge it: only wait out the pause
            self.pause_until = max(self.pause_until, now + self._pause / 2)
            return
        successes = self._successes
        while successes and now - successes[0] > 1.0:
            successes.popleft()
        span = max(0.1, now - successes[0]) if successes else 1.0
        observed = len(successes) / span
        current = self.bucket.rate
        base = min(current, observed) if current is not None and observed else (current or observed)
        new_rate = max(1.0, 0.7 * base) if base else 1.0
        self.bucket.set_rate(new_rate)
        self._floor_hit = new_rate
        if not successes:
            self._pause = min(self.max_pause_s, self._pause * 2)
        self._last_adjust = self._last_cut = now
        self.pause_until = max(self.pause_until, now + self._pause)
