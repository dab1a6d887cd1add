"""Routing: pick a channel for a message by its carrier and its account's channel group; primaries first, backups
when no primary is available (unbound, or throttled past the failover bound), and among channels of the same group,
carrier and priority a smooth weighted round-robin by weight; ``exclude`` skips channels that just failed this
message, so a failed submit moves to the backup at once. When no channel is available but one is connected (bound,
only throttled), that one is used rather than leaving the message to the retry schedule.

A message routes in its account's group when that group has a channel (enabled, loaded) serving its carrier,
whatever those channels' state; otherwise — no group, an unknown group, or none of its channels serves the carrier —
in ``default``. A group's messages never spill into ``default`` because the group's channels are down or failed:
a dedicated group is dedicated (the message waits on the retry schedule instead)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hongyan.channels.base import Channel

DEFAULT_GROUP = "default"


@dataclass
class Route:
    channel: Channel
    carriers: frozenset[str]
    priority: str = "primary"
    group: str = DEFAULT_GROUP
    weight: int = 1

    def serves(self, carrier: str) -> bool:
        return carrier in self.carriers or not self.carriers


def _connected(channel: Channel) -> bool:
    return bool(getattr(channel, "connected", channel.available))


class Router:
    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.routes = list(routes)

    @property
    def routes(self) -> list[Route]:
        return self._routes

    @routes.setter
    def routes(self, routes: list[Route]) -> None:
        """New routes (a channel reload) start the round-robin afresh."""
        self._routes = routes
        self._groups: dict[tuple[str, str], str] = {}
        self._current: dict[tuple[str, ...], list[int]] = {}

    def group_for(self, carrier: str, group: str) -> str:
        """The group a message of ``group``'s account to ``carrier`` routes in: its own when it has a channel for
        the carrier, else ``default``."""
        key = (carrier, group)
        found = self._groups.get(key)
        if found is None:
            own = group != DEFAULT_GROUP and any(r.group == group and r.serves(carrier) for r in self._routes)
            found = self._groups[key] = group if own else DEFAULT_GROUP
        return found

    def _candidates(self, carrier: str, group: str, exclude: frozenset[str]) -> list[Route]:
        group = self.group_for(carrier, group)
        return [r for r in self._routes if r.group == group and r.serves(carrier) and r.channel.name not in exclude]

    def pick(self, carrier: str, group: str = DEFAULT_GROUP, exclude: frozenset[str] = frozenset()) -> Channel | None:
        candidates = self._candidates(carrier, group, exclude)
        for usable in (lambda ch: ch.available, _connected):
            for tier in ("primary", "backup"):
                ready = [r for r in candidates if r.priority == tier and usable(r.channel)]
                if ready:
                    return self._weighted(ready).channel
        return None

    def _weighted(self, ready: list[Route]) -> Route:
        """Smooth weighted round-robin (nginx's): each pick adds every weight to its channel's credit, takes the
        channel with the most credit and charges it the total — weights 3:1 give a a b a, exactly 3:1 over 4 picks.
        The credits are kept per set of ready channels, so a channel going down does not skew the others' shares."""
        if len(ready) == 1:
            return ready[0]
        credit = self._current.setdefault(tuple(r.channel.name for r in ready), [0] * len(ready))
        total = best = 0
        for i, r in enumerate(ready):
            weight = max(r.weight, 1)
            credit[i] += weight
            total += weight
            if credit[i] > credit[best]:
                best = i
        credit[best] -= total
        return ready[best]

    def available_elsewhere(
        self, carrier: str, group: str = DEFAULT_GROUP, exclude: frozenset[str] = frozenset()
    ) -> bool:
        """Whether a channel not in ``exclude`` is available (not merely connected) for this message now."""
        return any(r.channel.available for r in self._candidates(carrier, group, exclude))
