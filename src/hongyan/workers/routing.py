"""Routing: pick a channel for a message by its carrier and group; primaries first, backups when no primary
is available (unbound, or throttled past the failover bound), weights among equals; ``exclude`` skips channels
that just failed this message, so a failed submit moves to the backup at once. When no channel is available but
one is connected (bound, only throttled), that one is used rather than leaving the message to the retry
schedule."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from hongyan.channels.base import Channel


@dataclass
class Route:
    channel: Channel
    carriers: frozenset[str]
    priority: str = "primary"
    group: str = "default"
    weight: int = 1


def _connected(channel: Channel) -> bool:
    return bool(getattr(channel, "connected", channel.available))


class Router:
    def __init__(self, routes: Iterable[Route] = (), rng: random.Random | None = None) -> None:
        self.routes: list[Route] = list(routes)
        self._rng = rng or random.Random()

    def _candidates(self, carrier: str, group: str, exclude: frozenset[str]) -> list[Route]:
        return [
            r
            for r in self.routes
            if r.group == group and (carrier in r.carriers or not r.carriers) and r.channel.name not in exclude
        ]

    def pick(self, carrier: str, group: str = "default", exclude: frozenset[str] = frozenset()) -> Channel | None:
        candidates = self._candidates(carrier, group, exclude)
        for usable in (lambda ch: ch.available, _connected):
            for tier in ("primary", "backup"):
                ready = [r for r in candidates if r.priority == tier and usable(r.channel)]
                if ready:
                    weights = [max(r.weight, 1) for r in ready]
                    return self._rng.choices(ready, weights=weights)[0].channel
        return None

    def available_elsewhere(self, carrier: str, group: str = "default", exclude: frozenset[str] = frozenset()) -> bool:
        """Whether a channel not in ``exclude`` is available (not merely connected) for this message now."""
        return any(r.channel.available for r in self._candidates(carrier, group, exclude))
