"""The SQLite committer's multi-row INSERT: every row lands once, in order, whatever the batch size and the
connection's bound-variable limit; the positional values match the named rows of the SQLAlchemy committer."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hongyan.store.messages import (
    MultiRowInsert,
    NewMessage,
    ledger_row,
    ledger_row_keys,
    ledger_values,
    message_row,
    message_row_keys,
    message_values,
)

SQL = "INSERT INTO t (a, b, c) VALUES (?, ?, ?)"


def _table() -> sqlite3.Connection:
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a, b, c)")
    return con


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(0, 1200), limit=st.sampled_from([3, 4, 7, 30, 999, 32766]))
def test_every_row_once_in_order_under_any_variable_limit(rows: int, limit: int) -> None:
    con = _table()
    con.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    values = [(i, f"r{i}", None if i % 3 else b"\x00") for i in range(rows)]
    MultiRowInsert(SQL).run(con, values)
    assert con.execute("SELECT a, b, c FROM t ORDER BY id").fetchall() == values


def test_chunks_stay_under_the_limit_and_a_batch_over_it_still_lands() -> None:
    con = _table()
    con.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 10)
    ins = MultiRowInsert(SQL)
    assert ins.columns == 3
    assert ins.chunk_rows(con) == 3  # 3 rows x 3 columns = 9 variables <= 10
    with pytest.raises(sqlite3.OperationalError):  # one statement for 4 rows would pass the limit
        con.execute(ins.sql(4), list(range(12)))
    ins.run(con, [(i, i, i) for i in range(10)])  # 3 + 3 + 3 + 1
    assert con.execute("SELECT count(*), sum(a) FROM t").fetchone() == (10, 45)


def test_explicit_chunk_and_sql_shape() -> None:
    ins = MultiRowInsert(SQL)
    assert ins.sql(1) == SQL
    assert ins.sql(2) == "INSERT INTO t (a, b, c) VALUES (?, ?, ?),(?, ?, ?)"
    con = _table()
    ins.run(con, [(1, 2, 3), (4, 5, 6), (7, 8, 9)], chunk=2)
    assert con.execute("SELECT a FROM t ORDER BY id").fetchall() == [(1,), (4,), (7,)]


def test_not_a_single_row_insert_is_refused() -> None:
    with pytest.raises(ValueError):
        MultiRowInsert("UPDATE t SET a = ?")


@given(
    smsid=st.text(min_size=1, max_size=20),
    account_id=st.integers(1, 10**9),
    segments=st.integers(1, 10),
    signature=st.none() | st.text(max_size=8),
    template_id=st.none() | st.integers(1, 10**6),
    price=st.none() | st.integers(0, 10**6),
    now=st.integers(0, 2**42),
)
def test_positional_values_match_the_named_rows(smsid, account_id, segments, signature, template_id, price, now):
    m = NewMessage(smsid, account_id, "13800138000", "mobile", "text", signature, template_id, segments, price)
    assert message_values(m, now) == tuple(message_row(m, now)[k] for k in message_row_keys())
    assert ledger_values(m, now) == tuple(ledger_row(m, now)[k] for k in ledger_row_keys())
