"""The DLR status mix: ``DELIVRD:0.95,UNDELIV:0.03,R:00702:0.02`` → weighted random stat words."""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StatusMix:
    stats: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> StatusMix:
        """Comma-separated ``STAT:WEIGHT``; the weight is after the LAST colon (stats such as ``R:00702`` hold one).

        An entry without a colon has weight 1. Weights are relative (normalised); at least one must be > 0.
        """
        stats: list[str] = []
        weights: list[float] = []
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            stat, sep, weight_text = entry.rpartition(":")
            if not sep:
                stat, weight_text = entry, "1"
            try:
                weight = float(weight_text)
            except ValueError:
                raise ValueError(f"status mix entry {entry!r}: weight {weight_text!r} is not a number") from None
            if not stat.strip() or weight < 0 or weight != weight:
                raise ValueError(f"status mix entry {entry!r}: needs a stat and a weight >= 0")
            stats.append(stat.strip())
            weights.append(weight)
        total = sum(weights)
        if not stats or total <= 0:
            raise ValueError(f"status mix {text!r} has no entry with a positive weight")
        return cls(tuple(stats), tuple(w / total for w in weights))

    def __str__(self) -> str:
        return ",".join(f"{s}:{w:g}" for s, w in zip(self.stats, self.weights, strict=True))

    def sampler(self, rng: random.Random) -> StatusSampler:
        return StatusSampler(self, rng)


class StatusSampler:
    def __init__(self, mix: StatusMix, rng: random.Random) -> None:
        self.mix = mix
        self._rng = rng
        self._cumulative = list(itertools.accumulate(mix.weights))

    def draw(self) -> str:
        if len(self.mix.stats) == 1:
            return self.mix.stats[0]
        i = bisect.bisect_right(self._cumulative, self._rng.random() * self._cumulative[-1])
        return self.mix.stats[min(i, len(self.mix.stats) - 1)]
