"""Statements built once and run many times on the delivery side's hot path.

Building a SQLAlchemy statement and executing it costs 60–260 µs a call before SQLite does any work (the
construct, its cache key, the execution context; ``bench/prepared_bench.py``), while the delivery side runs a few
statements per small batch, thousands of times a second, on the event loop. A ``Prepared`` statement is built once
(module level, every value a ``bindparam``) and compiled once per dialect:

- on the SQLite delivery connection (``store.txgroup.ThreadConnection``) it runs as that compiled SQL straight on
  ``sqlite3`` (positional parameters; an expanding ``IN`` list becomes ``?, ?, …`` of its length);
- anywhere else (PostgreSQL, aiosqlite) it is the same statement run by SQLAlchemy.

So the SQL is one: it comes from ``store.tables`` either way, and the PostgreSQL suite runs the SQLAlchemy side of
every statement the SQLite suite runs raw. Only plain types qualify (no bind or result processors: strings,
integers); ``Prepared`` refuses other statements when it first compiles them.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable

_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


class _Compiled:
    """The statement compiled for one dialect with positional (qmark) parameters."""

    __slots__ = ("_get", "defaults", "expanding", "names", "parts", "row", "sql")

    def __init__(self, stmt: Executable, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        if dialect.paramstyle != "qmark" or compiled.positiontup is None:
            raise TypeError(f"prepared statements need a qmark dialect, not {dialect.name}")
        # SQLAlchemy's own record of the types that convert values on the way in or out (private, but the one way
        # to know): such a statement would need them, so it is refused rather than run wrong.
        if compiled._bind_processors:
            raise TypeError(f"prepared statement has typed parameters: {sorted(compiled._bind_processors)}")
        columns = compiled._result_columns
        if any(c[3].dialect_impl(dialect).result_processor(dialect, None) is not None for c in columns):
            raise TypeError("prepared statement has typed result columns")
        self.names: tuple[str, ...] = tuple(compiled.positiontup)
        # the literals the statement carries; a bindparam without a value must come with every execution
        required = {name for bind, name in compiled.bind_names.items() if bind.required}
        self.defaults: dict[str, Any] = {k: v for k, v in compiled.params.items() if k not in required}
        self.sql = compiled.string
        self.expanding = set(_POSTCOMPILE.findall(self.sql))
        self.parts: list[str] = _POSTCOMPILE.split(self.sql) if self.expanding else []
        keys = [c[0] for c in columns]
        self.row = namedtuple("Row", keys, rename=True) if keys else None
        # every value from the row's own mapping, in C (a row that leaves a literal out takes the slow path)
        self._get = itemgetter(*self.names) if len(self.names) > 1 else None

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        if self._get is not None:
            try:
                return self._get(params)
            except KeyError:
                pass
        defaults = self.defaults
        return tuple(params[n] if n in params else defaults[n] for n in self.names)

    def render(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL and flat values of one execution with expanding lists (``IN (?, ?, …)`` of each list's length)."""
        defaults = self.defaults
        flat: list[Any] = []
        for n in self.names:
            v = params[n] if n in params else defaults[n]
            if n in self.expanding:
                if not v:
                    raise ValueError(f"empty list for {n}")
                flat.extend(v)
            else:
                flat.append(v)
        sql = [self.parts[0]]
        for i in range(1, len(self.parts), 2):
            sql.append(", ".join("?" * len(params[self.parts[i]])))
            sql.append(self.parts[i + 1])
        return "".join(sql), flat


class Prepared:
    """A statement built once; ``run(conn, p, params)`` executes it (one dict, or a list of dicts for many rows).

    ``column_keys``: for an ``insert(table)``, the columns the rows give (the others take their defaults).
    """

    __slots__ = ("_compiled", "column_keys", "stmt")

    def __init__(self, stmt: Executable, column_keys: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.column_keys = tuple(column_keys) if column_keys else None
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        c = self._compiled.get(dialect.name)
        if c is None:
            c = self._compiled[dialect.name] = _Compiled(self.stmt, dialect, self.column_keys)
        return c


async def run(
    conn: Any, p: Prepared, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
) -> list[Any]:
    """Execute ``p`` on ``conn`` (a work's connection) once with ``params`` (a mapping, or None), or once per row of
    a list (an empty list runs nothing); returns its rows (attribute access by column name) or []."""
    if params is not None and not isinstance(params, Mapping) and not params:
        return []
    raw = getattr(conn, "raw_sqlite", None)
    if raw is None:
        result = await conn.execute(p.stmt, params if params is not None else {})
        return list(result) if result.returns_rows else []
    c = p.compiled(conn.dialect)
    if params is None:
        params = {}
    if isinstance(params, Mapping):
        if c.expanding:
            sql, values = c.render(params)
            cursor = raw.execute(sql, values)
        else:
            cursor = raw.execute(c.sql, c.values(params))
    else:
        if c.expanding:
            raise TypeError("a statement with an expanding IN runs one set of parameters at a time")
        cursor = raw.executemany(c.sql, [c.values(row) for row in params])
    if c.row is None:
        return []
    make = c.row._make
    return [make(r) for r in cursor.fetchall()]
