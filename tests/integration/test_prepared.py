"""Prepared statements (store.prepared): on SQLite's delivery connection they run as compiled SQL on sqlite3, elsewhere
through SQLAlchemy; both give the same rows and changes, a transaction of nothing but prepared statements commits
(SQLAlchemy does not see it), and a failed one leaves nothing behind."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, bindparam, insert, select, update
from sqlalchemy.dialects import sqlite

from hongyan.domain.states import MessageState as S
from hongyan.store.prepared import Prepared, run
from hongyan.store.tables import message_events
from hongyan.store.transitions import record_events
from hongyan.store.txgroup import TxGroup, txgroup_for, write

_INSERT = Prepared(insert(message_events), column_keys=("smsid", "from_state", "to_state", "detail", "at"))
_BY_SMSID = Prepared(
    select(message_events.c.smsid, message_events.c.to_state, message_events.c.at)
    .where(
        message_events.c.smsid.in_(bindparam("b_smsids", expanding=True)),
        message_events.c.from_state == "queued",
    )
    .order_by(message_events.c.smsid, message_events.c.at)
)
_SET_DETAIL = Prepared(
    update(message_events)
    .where(message_events.c.smsid == bindparam("b_smsid"), message_events.c.from_state == "queued")
    .values(detail=bindparam("b_detail"), at=message_events.c.at + 1)
)
_RENAME = Prepared(
    update(message_events)
    .where(message_events.c.smsid.in_(bindparam("b_smsids", expanding=True)))
    .values(to_state=bindparam("b_to"))
    .returning(message_events.c.smsid, message_events.c.to_state)
)


@pytest.fixture
async def group(platform):
    g = txgroup_for(platform.engines.write, name="test-prepared")
    yield g
    await g.close()


async def _events(platform, prefix: str) -> list[tuple]:
    async with platform.engines.read.connect() as conn:
        rows = await conn.execute(
            select(message_events.c.smsid, message_events.c.from_state, message_events.c.to_state)
            .add_columns(message_events.c.detail, message_events.c.at)
            .where(message_events.c.smsid.like(f"{prefix}%"))
            .order_by(message_events.c.smsid, message_events.c.id)
        )
        return [tuple(r) for r in rows]


async def test_a_transaction_of_prepared_statements_alone_commits(platform, group: TxGroup) -> None:
    await group.run(lambda conn: record_events(conn, [("pa1", S.ACCEPTED, S.QUEUED, None)], 5))
    assert await _events(platform, "pa") == [("pa1", "accepted", "queued", None, 5)]


async def test_an_empty_list_of_rows_runs_nothing(platform, group: TxGroup) -> None:
    assert await group.run(lambda conn: run(conn, _INSERT, [])) == []
    assert await write(platform.engines.write, lambda conn: run(conn, _INSERT, [])) == []


async def test_a_failed_transaction_of_prepared_statements_leaves_nothing(platform, group: TxGroup) -> None:
    async def bad(conn) -> None:
        await record_events(conn, [("pf1", S.ACCEPTED, S.QUEUED, None)], 5)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await group.run(bad)
    assert await _events(platform, "pf") == []
    await group.run(lambda conn: record_events(conn, [("pf2", S.ACCEPTED, S.QUEUED, None)], 6))  # the group goes on
    assert await _events(platform, "pf") == [("pf2", "accepted", "queued", None, 6)]


async def _scenario(conn, prefix: str, rng: random.Random) -> list:
    """Inserts, an expanding select, an executemany update reading a column, an update … RETURNING."""
    smsids = [f"{prefix}{i:03d}" for i in range(rng.randint(1, 40))]
    rows = [
        {"smsid": s, "from_state": rng.choice(["queued", "accepted"]), "to_state": "x", "detail": None, "at": i}
        for i, s in enumerate(smsids)
    ]
    out: list = [await run(conn, _INSERT, rows)]
    pick = rng.sample(smsids, rng.randint(1, len(smsids)))
    out.append([tuple(r) for r in await run(conn, _BY_SMSID, {"b_smsids": pick})])
    await run(conn, _SET_DETAIL, [{"b_smsid": s, "b_detail": f"d{s}"} for s in pick])
    changed = await run(conn, _RENAME, {"b_smsids": pick, "b_to": "y"})
    out.append(sorted((r.smsid, r.to_state) for r in changed))
    return out


async def test_sqlite_raw_and_sqlalchemy_give_the_same_rows_and_changes(platform, group: TxGroup) -> None:
    """The same random scenarios through the group (raw sqlite3 on a SQLite file) and through the write engine
    (SQLAlchemy): equal results and equal tables."""
    for seed in range(25):
        a = await group.run(lambda conn, seed=seed: _scenario(conn, f"ra{seed:02d}-", random.Random(seed)))
        b = await write(
            platform.engines.write, lambda conn, seed=seed: _scenario(conn, f"rb{seed:02d}-", random.Random(seed))
        )

        def strip(result: list, prefix: str) -> list:
            return [
                [tuple(x.replace(prefix, "") if isinstance(x, str) else x for x in r) for r in part] for part in result
            ]

        assert strip(a, f"ra{seed:02d}-") == strip(b, f"rb{seed:02d}-")
        ta = [tuple(str(x).replace(f"ra{seed:02d}-", "") for x in r) for r in await _events(platform, f"ra{seed:02d}-")]
        tb = [tuple(str(x).replace(f"rb{seed:02d}-", "") for x in r) for r in await _events(platform, f"rb{seed:02d}-")]
        assert ta == tb and ta


def test_typed_parameters_missing_values_and_empty_lists_are_refused() -> None:
    t = Table("typed", MetaData(), Column("id", BigInteger, primary_key=True), Column("at", DateTime))
    with pytest.raises(TypeError, match="typed parameters"):
        Prepared(insert(t), column_keys=("id", "at")).compiled(sqlite.dialect())
    with pytest.raises(TypeError, match="typed result"):
        Prepared(select(t.c.at)).compiled(sqlite.dialect())
    c = _SET_DETAIL.compiled(sqlite.dialect())
    with pytest.raises(KeyError, match="b_detail"):
        c.values({"b_smsid": "x"})
    c = _BY_SMSID.compiled(sqlite.dialect())
    with pytest.raises(ValueError, match="empty list"):
        c.render({"b_smsids": []})
    sql, values = c.render({"b_smsids": ["a", "b", "c"]})
    assert "IN (?, ?, ?)" in sql and values == ["a", "b", "c", "queued"]


def test_every_prepared_statement_of_the_store_compiles_for_sqlite() -> None:
    """A statement with a typed column would be refused at its first run on SQLite: check them all up front."""
    from hongyan.store import dispatch, outbox, receipts, transitions, webhooks

    found = []
    for module in (dispatch, outbox, receipts, transitions, webhooks):
        for value in vars(module).values():
            for p in value.values() if isinstance(value, dict) else [value]:
                if isinstance(p, Prepared):
                    found.append(p.compiled(sqlite.dialect()))
    assert len(found) >= 15 and all(c.sql for c in found)
