"""What a statement costs per call: built and run by SQLAlchemy each time (as the delivery side did) against a
``store.prepared.Prepared`` statement run as compiled SQL on sqlite3, for 1, 5, 20 and 100 rows, on a real SQLite
file with the schema. Prints one JSON object (µs per call).

    .venv/bin/python bench/prepared_bench.py
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from sqlalchemy import bindparam, create_engine, insert, update
from sqlalchemy.dialects import sqlite

from hongyan.store.prepared import Prepared
from hongyan.store.tables import message_events, messages, metadata

_EVENTS = Prepared(insert(message_events), column_keys=("smsid", "from_state", "to_state", "detail", "at"))
_SUBMITTED = Prepared(
    update(messages)
    .where(messages.c.smsid == bindparam("b_smsid"), messages.c.state == "queued")
    .values(state="submitted", channel=bindparam("b_channel"), updated_at=bindparam("b_now"))
)


def _per_call(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def main() -> dict:
    tmp = tempfile.mkdtemp(prefix="hongyan-prepared-")
    engine = create_engine(f"sqlite:///{tmp}/p.db")
    metadata.create_all(engine)
    conn = engine.connect()
    raw = conn.connection.dbapi_connection
    ev, sub = _EVENTS.compiled(sqlite.dialect()), _SUBMITTED.compiled(sqlite.dialect())
    out: dict[str, object] = {"loadavg_1m": round(os.getloadavg()[0], 2)}
    for rows in (1, 5, 20, 100):
        events = [
            {"smsid": f"s{i}", "from_state": "queued", "to_state": "submitted", "detail": None, "at": 1}
            for i in range(rows)
        ]
        marks = [{"b_smsid": f"s{i}", "b_channel": "sim", "b_now": 5} for i in range(rows)]
        calls = 20_000 // rows
        out[f"insert_{rows}_sqlalchemy_us"] = round(
            _per_call(lambda events=events: conn.execute(insert(message_events), events), calls), 1
        )
        out[f"insert_{rows}_prepared_us"] = round(
            _per_call(lambda events=events: raw.executemany(ev.sql, [ev.values(r) for r in events]), calls), 1
        )
        out[f"update_{rows}_sqlalchemy_us"] = round(
            _per_call(
                lambda marks=marks: conn.execute(
                    update(messages)
                    .where(messages.c.smsid == bindparam("b_smsid"), messages.c.state == "queued")
                    .values(state="submitted", channel=bindparam("b_channel"), updated_at=bindparam("b_now")),
                    marks,
                ),
                calls,
            ),
            1,
        )
        out[f"update_{rows}_prepared_us"] = round(
            _per_call(lambda marks=marks: raw.executemany(sub.sql, [sub.values(r) for r in marks]), calls), 1
        )
        conn.commit()
        raw.commit()
    conn.close()
    engine.dispose()
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
