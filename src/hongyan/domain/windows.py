"""Windowed counters, the pure part: a window (key, limit, ttl), and the operations ``take``, ``release`` and
``clear`` applied to rows read from a store (``Rows``), with the semantics of ``policy.counters.MemoryCounters``.

``policy.counters.SqliteCounters`` applies a queued batch of them in one transaction, and so does the SQLite accept
committer (``store.messages``) for the takes of the messages it stores (``HONGYAN_COUNTERS=sql`` on a SQLite file:
one lock turn for the limits and the messages of a batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

OVER = -1
"""``take``'s answer when the ``counted`` window passed its limit (nothing else was taken)."""


class Window(NamedTuple):  # built three times per Submit: a NamedTuple is much cheaper than a frozen dataclass
    key: str
    limit: int
    ttl_ms: int


def first_full(values: Sequence[int], windows: Sequence[Window]) -> int | None:
    for i, w in enumerate(windows):
        if values[i] >= w.limit:
            return i
    return None


class Rows:
    """What one transaction read (live rows: key → (value, expires_at)) and will write (key → row,
    or None to delete)."""

    __slots__ = ("live", "now", "written")

    def __init__(self, now: int) -> None:
        self.now = now
        self.live: dict[str, tuple[int, int]] = {}
        self.written: dict[str, tuple[int, int] | None] = {}

    def bump(self, key: str, ttl_ms: int) -> int:
        value, expires_at = self.live.get(key, (0, self.now + ttl_ms))
        self.live[key] = self.written[key] = (value + 1, expires_at)
        return value + 1


class Op(Protocol):
    def names_of(self) -> Sequence[str]: ...

    def apply(self, rows: Rows) -> Any: ...


class Take(NamedTuple):
    windows: Sequence[Window]
    counted: Window | None

    def names_of(self) -> list[str]:
        keys = [w.key for w in self.windows]
        return keys if self.counted is None else [*keys, self.counted.key]

    def apply(self, rows: Rows) -> int | None:
        counted = self.counted
        if counted is not None and rows.bump(counted.key, counted.ttl_ms) > counted.limit:
            return OVER
        full = first_full([rows.live.get(w.key, (0, 0))[0] for w in self.windows], self.windows)
        if full is not None:
            return full
        for w in self.windows:
            rows.bump(w.key, w.ttl_ms)
        return None


class Release(NamedTuple):
    names: Sequence[str]

    def names_of(self) -> Sequence[str]:
        return self.names

    def apply(self, rows: Rows) -> None:
        for key in self.names:
            hit = rows.live.get(key)
            if hit is not None and hit[0] > 0:
                rows.live[key] = rows.written[key] = (hit[0] - 1, hit[1])


class Clear(NamedTuple):
    names: Sequence[str]

    def names_of(self) -> Sequence[str]:
        return self.names

    def apply(self, rows: Rows) -> None:
        for key in self.names:
            rows.live.pop(key, None)
            rows.written[key] = None
