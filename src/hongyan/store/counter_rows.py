"""The ``counters`` table read and written on a plain ``sqlite3`` connection inside a write transaction: the rows
a batch of window operations names in one SELECT per 300 keys, the changed rows in one upsert per 300 rows.

Used by ``policy.counters.SqliteCounters`` (a transaction of counter operations) and by the SQLite accept committer
(``store.messages``: the frequency-limit takes of a batch of messages, in the batch's own transaction).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from hongyan.domain.windows import Rows

CHUNK = 300  # rows per SELECT / INSERT: 900 bound variables, under SQLite's oldest limit of 999


def read(db: sqlite3.Connection, keys: Iterable[str], now: int) -> Rows:
    """The live rows of ``keys`` (an expired row reads as absent)."""
    rows = Rows(now)
    ordered = sorted(set(keys))
    for i in range(0, len(ordered), CHUNK):
        chunk = ordered[i : i + CHUNK]
        marks = ",".join("?" * len(chunk))
        for key, value, expires_at in db.execute(
            f"SELECT key, value, expires_at FROM counters WHERE key IN ({marks})", chunk
        ):
            if expires_at > now:
                rows.live[key] = (value, expires_at)
    return rows


def write(db: sqlite3.Connection, rows: Rows) -> None:
    """Store what the operations applied to ``rows`` changed: upserts, and deletes for cleared keys."""
    upserts = [(k, *v) for k, v in rows.written.items() if v is not None]
    for i in range(0, len(upserts), CHUNK):
        chunk = upserts[i : i + CHUNK]
        db.execute(
            "INSERT INTO counters (key, value, expires_at) VALUES "
            + ",".join(["(?,?,?)"] * len(chunk))
            + " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            [x for row in chunk for x in row],
        )
    gone = [k for k, v in rows.written.items() if v is None]
    for i in range(0, len(gone), CHUNK):
        chunk = gone[i : i + CHUNK]
        db.execute(f"DELETE FROM counters WHERE key IN ({','.join('?' * len(chunk))})", chunk)


def sweep(db: sqlite3.Connection, now: int) -> None:
    """Delete the rows whose window has ended."""
    db.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
