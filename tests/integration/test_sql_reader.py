"""`SqlReader.read_now` on SQLite: a read of a few rows on the event loop's own thread, and to the reader's
thread, never blocking the loop, when another process holds the file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dyngen.adapters.db.reader import SqlReader
from dyngen.adapters.db.repository import create_engine


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "dyngen.db"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE limits (scope TEXT)")
    setup.execute("INSERT INTO limits VALUES ('global')")
    setup.commit()
    setup.close()
    return path


async def test_a_small_read_runs_on_the_loop_thread_and_sees_what_is_committed(tmp_path: Path) -> None:
    path = _file(tmp_path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    reader = SqlReader(engine=engine)
    threads: list[str] = []

    def scopes(conn: Connection) -> list[str]:
        threads.append(threading.current_thread().name)
        return [row.scope for row in conn.execute(text("SELECT scope FROM limits ORDER BY scope"))]

    try:
        assert await reader.read_now(scopes) == ["global"]
        other = sqlite3.connect(path)  # another process's change
        other.execute("INSERT INTO limits VALUES ('node:n')")
        other.commit()
        other.close()
        assert await reader.read_now(scopes) == ["global", "node:n"]
        assert threads == [threading.current_thread().name] * 2
    finally:
        await reader.aclose()
        await engine.dispose()


async def test_a_small_read_of_a_file_another_process_holds_waits_in_the_readers_thread(tmp_path: Path) -> None:
    path = _file(tmp_path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    reader = SqlReader(engine=engine)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")  # until it closes, no other connection reads the file
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO limits VALUES ('node:held')")
    holder.execute("COMMIT")
    threads: list[str] = []

    def scopes(conn: Connection) -> list[str]:
        threads.append(threading.current_thread().name)
        return [row.scope for row in conn.execute(text("SELECT scope FROM limits ORDER BY scope"))]

    try:
        read = asyncio.create_task(reader.read_now(scopes))
        for _ in range(3):  # the task tries in place (refused at once) and hands the read to the thread
            await asyncio.sleep(0)
        assert not read.done()  # the loop runs on (a read in place would hold it in the busy handler)
        holder.close()
        assert await read == ["global", "node:held"]
        assert threads == ["dyngen-db-reader_0"]
    finally:
        holder.close()
        await reader.aclose()
        await engine.dispose()
