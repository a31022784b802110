"""`SqlReader.rows_now` on SQLite: a read of a few rows on the event loop's own thread that sees every commit,
and that gives up at once, never blocking the loop, when another process holds the file. `SqlReader.read`
on PostgreSQL: one statement in autocommit, no transaction around it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

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


def _in_transaction_block(conn: Connection) -> bool:
    # Two statements within BEGIN ... share their transaction; in autocommit each is a transaction of its own.
    first, second = (conn.execute(text("SELECT pg_current_xact_id()::text")).scalar_one() for _ in range(2))
    return bool(first == second)


async def test_a_read_on_postgres_runs_in_autocommit_and_leaves_the_pool_as_it_found_it(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    reader = SqlReader(engine=engine)
    try:
        assert await reader.read(_in_transaction_block) is False  # no BEGIN and ROLLBACK around the read
        async with engine.connect() as conn:  # the same pooled connection, back to transactions
            assert await conn.run_sync(_in_transaction_block) is True
    finally:
        await reader.aclose()
        await engine.dispose()
