"""`SqlReader.rows_now` on SQLite: a read of a few rows on the event loop's own thread that sees every commit,
and that gives up at once, never blocking the loop, when another process holds the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dyngen.adapters.db.reader import SqlReader
from dyngen.adapters.db.repository import create_engine

SQL = "SELECT scope FROM limits ORDER BY scope"


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "dyngen.db"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE limits (scope TEXT)")
    setup.execute("INSERT INTO limits VALUES ('global')")
    setup.commit()
    setup.close()
    return path


async def test_a_small_read_in_place_sees_what_another_process_committed(tmp_path: Path) -> None:
    path = _file(tmp_path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    reader = SqlReader(engine=engine)
    try:
        assert reader.rows_now(SQL) == [("global",)]
        other = sqlite3.connect(path)  # another process's change
        other.execute("INSERT INTO limits VALUES ('node:n')")
        other.commit()
        other.close()
        assert reader.rows_now(SQL) == [("global",), ("node:n",)]
    finally:
        await reader.aclose()
        await engine.dispose()


async def test_a_small_read_of_a_file_another_process_holds_gives_up_at_once(tmp_path: Path) -> None:
    path = _file(tmp_path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    reader = SqlReader(engine=engine)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")  # until it closes, no other connection reads the file
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO limits VALUES ('node:held')")
    holder.execute("COMMIT")
    try:
        assert reader.rows_now(SQL) is None  # at once: the caller reads through the reader's thread instead
        holder.close()
        assert reader.rows_now(SQL) == [("global",), ("node:held",)]
    finally:
        holder.close()
        await reader.aclose()
        await engine.dispose()
