"""Every SQL statement the engines run, with the thread it ran on: those SQLAlchemy runs, and those the
group-commit writer runs on sqlite3's own connection (`adapters/db/driver_sql.py`), which SQLAlchemy's
events do not see. A sqlite3 connection opened while something watches reports each statement it runs
(its trace callback: once per row of an `executemany`, parameters written in); any other connection's
statements come from SQLAlchemy's `before_cursor_execute`."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

Watcher = Callable[[str, str], None]  # (statement, thread)
_watchers: list[Watcher] = []


def _report(statement: str) -> None:
    thread = threading.current_thread().name
    for watcher in list(_watchers):
        watcher(statement, thread)


def _connected(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.set_trace_callback(_report)


def _executing(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
    if not isinstance(conn.connection.dbapi_connection, sqlite3.Connection):  # a sqlite3 one reports itself
        _report(statement)


@contextmanager
def watching(watcher: Watcher) -> Iterator[None]:
    """`watcher(statement, thread)` for every statement run meanwhile on a connection opened meanwhile (a
    sqlite3 one) or on any other connection."""
    if not _watchers:
        event.listen(Engine, "connect", _connected)
        event.listen(Engine, "before_cursor_execute", _executing)
    _watchers.append(watcher)
    try:
        yield
    finally:
        _watchers.remove(watcher)
        if not _watchers:
            event.remove(Engine, "connect", _connected)
            event.remove(Engine, "before_cursor_execute", _executing)
