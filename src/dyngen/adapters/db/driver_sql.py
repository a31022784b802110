"""`DriverStatement`: a statement of the group-commit writer's batches compiled once for SQLite and run straight on
the driver's connection (sqlite3's `executemany`), in the transaction SQLAlchemy's connection holds.

A SQLite batch is written on the event loop's thread (`writer.SqlWriter`), and at a 50 ms upstream and
concurrency 32 it holds 1.5 misses' writes: a record with its artifact, a budget settlement and a cache entry,
six statements and a commit. SQLAlchemy's execution of each (its execution context, the parameters run through
the compiled statement's processors per row, its cursor result) cost more than SQLite's own work: 445 µs of the
loop's time per batch, ~290 µs per miss (issue 18). Here the statement is compiled once, each row's values are
converted by the same bind processors SQLAlchemy applies (a date-time as SQLite's text, ...), and sqlite3 runs
it. What is stored is what SQLAlchemy's execution stores; a failure is SQLAlchemy's exception for it
(`DBAPIError.instance`: `OperationalError` for a busy file, `IntegrityError` for a clash), so callers see no
difference.

On PostgreSQL (and on aiosqlite's connection) the statement goes through SQLAlchemy: those batches run off the
loop's thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

_DIALECT = sqlite.dialect()  # pysqlite's: qmark parameters, its processors
_UNSET = object()


class _Compiled:
    """The statement's SQL for one set of parameter names, and how each row's values become its parameters."""

    __slots__ = ("params", "sql")

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None) -> None:
        compiled = statement.compile(dialect=_DIALECT, column_keys=keys)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self.params: list[tuple[str, Any, Callable[[Any], Any] | None]] = []
        for name in compiled.positiontup or []:
            bind = compiled.binds[name]
            default = _UNSET if bind.required or bind.callable is not None else bind.value
            self.params.append((name, default, bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)))

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        row = []
        for name, default, processor in self.params:
            value = values.get(name, default)
            if value is _UNSET:
                raise KeyError(f"no value for the parameter {name!r} of {self.sql!r}")
            row.append(value if processor is None or value is None else processor(value))
        return tuple(row)


class DriverStatement:
    """`statement`, run by `executemany` and `fetchall` on the driver's connection when it is sqlite3's (the
    writer's, in place or in its thread); on another (PostgreSQL's, aiosqlite's) SQLAlchemy runs it.

    An INSERT's columns are the names of its first row's values, as SQLAlchemy's execution takes them (the
    others get their server defaults); it is compiled once per set of names. A parameter a row leaves out
    takes the value the statement was built with (`.values(spent=0)`); a required one raises `KeyError`.
    """

    def __init__(self, statement: Executable) -> None:
        assert isinstance(statement, ClauseElement)
        self.statement = statement
        self._compiled: dict[tuple[str, ...], _Compiled] = {}

    def _for(self, values: Mapping[str, Any]) -> _Compiled:
        keys = tuple(values)
        compiled = self._compiled.get(keys)
        if compiled is None:
            compiled = self._compiled[keys] = _Compiled(self.statement, keys)
        return compiled

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run the statement once per row in `conn`'s transaction; the rows it changed (its rowcount)."""
        if not rows:
            return 0
        if (driver := _sqlite3(conn)) is None:
            return int(conn.execute(self.statement, list(rows)).rowcount)
        compiled = self._for(rows[0])
        params = [compiled.row(values) for values in rows]
        try:
            return int(driver.executemany(compiled.sql, params).rowcount)
        except sqlite3.Error as error:
            raise _translated(error, compiled.sql, params) from error

    def fetchall(self, conn: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement once with `values` in `conn`'s transaction; the rows it returned."""
        if (driver := _sqlite3(conn)) is None:
            return [tuple(row) for row in conn.execute(self.statement, dict(values))]
        compiled = self._for(values)
        params = compiled.row(values)
        try:
            return driver.execute(compiled.sql, params).fetchall()
        except sqlite3.Error as error:
            raise _translated(error, compiled.sql, params) from error


def _sqlite3(conn: Connection) -> sqlite3.Connection | None:
    """sqlite3's connection under `conn`; None for another driver's (PostgreSQL's, aiosqlite's: SQLAlchemy runs
    the statement there)."""
    driver = conn.connection.dbapi_connection
    return driver if isinstance(driver, sqlite3.Connection) else None


def _translated(error: sqlite3.Error, sql: str, params: Any) -> exc.StatementError:
    """The exception SQLAlchemy raises for `error` (`OperationalError`, `IntegrityError`, ...)."""
    return exc.DBAPIError.instance(sql, params, error, sqlite3.Error)
