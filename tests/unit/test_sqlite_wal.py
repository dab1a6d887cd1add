"""store.db.ensure_wal: a database is switched to WAL once, and the switch waits (polls) while another connection
holds the file, instead of failing at once."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from hongyan.store.db import ensure_wal


def test_switches_once_and_then_only_asks(tmp_path) -> None:
    con = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    ensure_wal(con)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other = sqlite3.connect(tmp_path / "a.db", isolation_level=None, timeout=0)
    other.execute("BEGIN EXCLUSIVE")  # in WAL mode already: nothing to switch, so a held lock does not matter
    ensure_wal(con, timeout_s=0)
    other.rollback()


def test_waits_for_a_connection_that_holds_the_file(tmp_path) -> None:
    path = tmp_path / "b.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    con = sqlite3.connect(path, isolation_level=None, timeout=0)  # no busy handler: every try answers "locked"
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        ensure_wal(con, timeout_s=0.1)
    threading.Timer(0.2, holder.rollback).start()
    started = time.monotonic()
    ensure_wal(con, timeout_s=5)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal" and time.monotonic() - started >= 0.15
