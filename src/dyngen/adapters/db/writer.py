"""`SqlWriter`: the process's one batching writer on a database (group commit, adapters/db/group_commit.py).

A write is either a `Batched` one (a generation record: the records of a batch are one multi-row insert)
or a step run on the batch's connection (a budget settlement). A batch is one transaction: the batched
writes first, grouped by type, then the steps in the order they came. A lost connection runs the batch
again (`retrying`); a timeout or any other error fails the batch's writes, and only those.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dyngen.adapters.db.group_commit import MAX_ITEMS, WINDOW_S, GroupCommit
from dyngen.adapters.db.repository import retrying

Step = Callable[[AsyncConnection], Awaitable[None]]


class Batched(Protocol):
    """A write that is written together with the other writes of its type in a batch (one multi-row insert
    instead of one per write): `write_all` is called once per batch, on one of them, with all of them."""

    async def write_all(self, conn: AsyncConnection, group: list[Any]) -> None: ...


Write = Batched | Step


class SqlWriter:
    """Group commit on `engine`: `write` returns once its batch committed (see the module docstring).

    Args:
        engine: The async engine the repositories use.
        max_items: Writes per batch at most.
        window_s: How long the first write of an idle writer waits for others to join.
        window: Awaited instead of `window_s` of real time (tests pass an event's wait).
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        max_items: int = MAX_ITEMS,
        window_s: float = WINDOW_S,
        window: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._engine = engine
        self.commits: GroupCommit[Write] = GroupCommit(self._run, max_items=max_items, window_s=window_s, window=window)

    async def write(self, write: Write) -> None:
        """Commit `write` with the next batch; raises that batch's error when it failed."""
        await self.commits.submit(write)

    async def _run(self, writes: list[Write]) -> None:
        await retrying(lambda: self._transaction(writes))

    async def _transaction(self, writes: list[Write]) -> None:
        grouped: dict[type, list[Batched]] = {}
        steps: list[Step] = []
        for write in writes:
            if hasattr(write, "write_all"):
                grouped.setdefault(type(write), []).append(write)
            else:
                steps.append(write)
        async with self._engine.begin() as conn:
            for group in grouped.values():
                await group[0].write_all(conn, group)
            for step in steps:
                await step(conn)

    async def aclose(self) -> None:
        await self.commits.aclose()
