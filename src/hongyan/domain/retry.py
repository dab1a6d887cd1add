"""Retry policy for temporary delivery failures: a schedule from settings, with jitter, then give up."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule_s: tuple[float, ...] = (1, 2, 5, 10, 30, 60, 120, 300)
    max_attempts: int = 10
    jitter: float = 0.2

    def decide(self, attempts: int, rng: random.Random | None = None) -> RetryDecision:
        """``attempts`` made so far (≥ 1); past ``max_attempts`` the message fails for good."""
        if attempts >= self.max_attempts:
            return RetryDecision(False)
        base = self.schedule_s[min(attempts - 1, len(self.schedule_s) - 1)]
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return RetryDecision(True, max(0.0, base * (1 + spread)))
