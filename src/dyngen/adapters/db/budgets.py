"""`SqlAlchemyBudgetLedger`: budget reservations in SQLite (the embedded default) or PostgreSQL.

Every step is one transaction whose first statement is a write, so SQLite takes its write lock at once
(the busy timeout queues the other processes on the same file) and no two processes can read the same
remaining budget. On PostgreSQL the hold is a conditional `UPDATE ... WHERE spent + reserved + amount <=
limit`: the row lock makes a concurrent update wait and re-check the condition against the committed
row, so the last of a budget goes to exactly one caller. Scope rows are always updated in sorted order
(`global` first), so transactions queue on it instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.driver_sql import DriverStatement
from dyngen.adapters.db.repository import db_time, retrying, to_utc
from dyngen.adapters.db.tables import budget_reservations, budget_scopes, budget_spend
from dyngen.ports import BudgetRefusal, Clock, Reservation, ScopeSpend, SpendBucket

if TYPE_CHECKING:
    from dyngen.adapters.db.writer import SqlWriter


class _RefusedError(Exception):
    def __init__(self, refusal: BudgetRefusal) -> None:
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class _Settlement:
    """A commit or release for the group-commit writer: the settlements of a batch are written together
    (`SqlAlchemyBudgetLedger._settle_all`)."""

    ledger: SqlAlchemyBudgetLedger
    reservation: Reservation
    actual: int
    at: datetime | None
    held: bool = True  # False: never reserved (no limit applied), no hold to give back

    def write_all(self, conn: Connection, group: list[_Settlement]) -> None:
        self.ledger._settle_all(conn, group)


class SqlAlchemyBudgetLedger:
    """The database ledger (see the module docstring).

    Args:
        engine: The async engine (the same one the repositories use).
        clock: Reservation expiry times.
        writer: The process's group-commit writer on `engine`: settlements (a commit or a release) are
            written through it, in one transaction with the records and settlements that wait beside them.
            Reservations never are: each is its own transaction, answered from the committed scopes, so a
            budget is never overspent; on SQLite it runs in the writer's thread, one hand-over for the whole
            transaction. None: one transaction per settlement.
    """

    def __init__(self, *, engine: AsyncEngine, clock: Clock, writer: SqlWriter | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._writer = writer
        self._insert: Any = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # A batch's settlements run these statements, built once, each with a row of parameters per
        # scope or spend bucket (executemany): building and caching a statement per row cost ~0.2 ms each,
        # 14 ms per batch of 32 settlements of different nodes (issue 18).
        c = budget_scopes.c
        self._new_scope = self._insert(budget_scopes).values(spent=0, reserved=0).on_conflict_do_nothing()
        # A scope's spend added and its holds given back, the scope's row made when it is new (one statement).
        # Settlements are written in the writer's batches: in place on SQLite, on the driver's connection
        # (`driver_sql`), where a hold is given back by a delete of its own.
        settle_scope = self._insert(budget_scopes)
        self._settle_scope = DriverStatement(
            settle_scope.on_conflict_do_update(
                index_elements=["period", "scope"],
                set_={
                    "spent": c.spent + settle_scope.excluded.spent,
                    "reserved": c.reserved + settle_scope.excluded.reserved,
                },
            )
        )
        add_spend = self._insert(budget_spend)
        self._add_spend = DriverStatement(
            add_spend.on_conflict_do_update(
                index_elements=["period", "bucket_start", "node_id", "provider"],
                set_={"cost": budget_spend.c.cost + add_spend.excluded.cost},
            )
        )
        # The holds a batch gives back, one delete whatever their number (their ids a JSON array).
        self._give_back = DriverStatement(
            text("DELETE FROM budget_reservations WHERE id IN (SELECT value FROM json_each(:ids)) RETURNING id, amount")
        )
        # A reservation's statements, built once too (building them per call was ~half of its 1.4 ms).
        r = budget_reservations.c
        self._add_hold = budget_reservations.insert().values(
            id=bindparam("r_id"),
            period=bindparam("r_period"),
            scopes=bindparam("r_scopes", type_=r.scopes.type),
            amount=bindparam("r_amount"),
            expires_at=bindparam("r_expires", type_=r.expires_at.type),
        )
        self._expire_holds = (
            budget_reservations.delete()
            .where(r.period == bindparam("r_period"), r.expires_at < bindparam("r_now", type_=r.expires_at.type))
            .returning(r.scopes, r.amount)
        )
        in_scope = (c.period == bindparam("b_period"), c.scope == bindparam("b_scope"))
        held = c.reserved - bindparam("b_back") + bindparam("b_amount")
        self._hold = budget_scopes.update().where(*in_scope).values(reserved=held)
        self._hold_within = (
            budget_scopes.update().where(*in_scope, c.spent + held <= bindparam("b_limit")).values(reserved=held)
        )
        self._scope_state = select(c.spent, c.reserved).where(*in_scope)

    def _purge(self, conn: Connection, period: str, now: datetime) -> dict[str, int]:
        """Delete the period's expired reservations; returns what each scope held for them."""
        expired = conn.execute(self._expire_holds, {"r_period": period, "r_now": to_utc(now)}).all()
        held: dict[str, int] = defaultdict(int)
        for scopes, amount in expired:
            for scope in scopes:
                held[scope] += int(amount)
        return held

    async def reserve(
        self, reservation: Reservation, *, limits: dict[str, int | None], ttl_s: float
    ) -> BudgetRefusal | None:
        hold = functools.partial(self._reserve, reservation, limits, ttl_s, self._clock.now())
        try:
            writer = self._writer
            if writer is not None and writer.local:  # SQLite: in place, or one hand-over to the writer's thread
                await retrying(lambda: writer.transaction(hold))
            else:
                await retrying(lambda: self._run_sync(hold))
        except _RefusedError as refused:
            return refused.refusal
        except IntegrityError:
            # A retry after a lost acknowledgement: the first attempt committed this very reservation.
            return None
        return None

    async def _run_sync(self, work: Callable[[Connection], None]) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(work)

    def _reserve(
        self, reservation: Reservation, limits: dict[str, int | None], ttl_s: float, now: datetime, conn: Connection
    ) -> None:
        """Hold `reservation` in its scopes within `conn`'s transaction, or raise `_RefusedError`."""
        period, amount = reservation.period, reservation.amount
        # First a write: SQLite's write lock is taken here, before anything is read.
        conn.execute(
            self._add_hold,
            {
                "r_id": reservation.id,
                "r_period": period,
                "r_scopes": list(reservation.scopes),
                "r_amount": amount,
                "r_expires": to_utc(now + timedelta(seconds=ttl_s)),
            },
        )
        conn.execute(self._new_scope, [{"period": period, "scope": scope} for scope in sorted(reservation.scopes)])
        freed = self._purge(conn, period, now)
        for scope in sorted(set(freed) | set(reservation.scopes)):
            back = freed.get(scope, 0)
            mine = scope in reservation.scopes  # a scope only freed gives its expired holds back
            params = {"b_period": period, "b_scope": scope, "b_back": back, "b_amount": amount if mine else 0}
            limit = limits.get(scope) if mine else None
            if limit is None:
                conn.execute(self._hold, params)
                continue
            if conn.execute(self._hold_within, params | {"b_limit": limit}).rowcount == 1:
                continue
            row = conn.execute(self._scope_state, params).one()
            remaining = limit - int(row.spent) - (int(row.reserved) - back)
            raise _RefusedError(BudgetRefusal(scope=scope, limit=limit, remaining=remaining))

    async def commit(self, reservation: Reservation, *, actual: int, at: datetime, held: bool = True) -> None:
        await self._settle(reservation, actual, at, held=held)

    def commit_soon(
        self, reservation: Reservation, *, actual: int, at: datetime, held: bool = True
    ) -> asyncio.Future[None] | None:
        if self._writer is None:
            return None
        return self._writer.write_behind(_Settlement(self, reservation, actual, at, held))

    async def release(self, reservation: Reservation) -> None:
        await self._settle(reservation, 0, None)

    async def _settle(self, reservation: Reservation, actual: int, at: datetime | None, *, held: bool = True) -> None:
        settlement = _Settlement(self, reservation, actual, at, held)
        if self._writer is not None:
            await self._writer.write(settlement)
            return

        async def alone() -> None:
            async with self._engine.begin() as conn:
                await conn.run_sync(self._settle_all, [settlement])

        await retrying(alone)

    def _settle_all(self, conn: Connection, settlements: list[_Settlement]) -> None:
        """Settle several reservations in `conn`'s transaction, as if one after the other: one delete of
        their holds (none when none was held), one upsert per scope touched (sorted, the order `reserve`
        locks them in) and one upsert per spend bucket, whatever the number of settlements."""
        r = budget_reservations.c
        held: dict[str, int] = {}
        ids = list(dict.fromkeys(s.reservation.id for s in settlements if s.held))
        if ids and self._insert is sqlite.insert:
            held = {id_: int(amount) for id_, amount in self._give_back.fetchall(conn, {"ids": json.dumps(ids)})}
        elif ids:
            deleted = conn.execute(budget_reservations.delete().where(r.id.in_(ids)).returning(r.id, r.amount))
            held = {row.id: int(row.amount) for row in deleted}
        back: dict[tuple[str, str], int] = defaultdict(int)
        spent: dict[tuple[str, str], int] = defaultdict(int)
        buckets: dict[tuple[str, datetime, str, str], int] = defaultdict(int)
        for settlement in settlements:
            reservation, actual = settlement.reservation, settlement.actual
            amount = held.pop(reservation.id, None)  # a hold is given back once, however often it is settled
            if amount is None and actual <= 0:
                continue  # expired (and given back) or never held, and nothing spent
            for scope in reservation.scopes:
                back[reservation.period, scope] += amount or 0
                spent[reservation.period, scope] += max(0, actual)
            if actual > 0 and settlement.at is not None:
                hour = settlement.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                buckets[reservation.period, hour, reservation.node_id, reservation.provider] += actual
        if not back:
            return
        self._settle_scope.executemany(
            conn,
            [
                {"period": period, "scope": scope, "spent": spent[period, scope], "reserved": -back[period, scope]}
                for period, scope in sorted(back)
            ],
        )
        if buckets:
            self._add_spend.executemany(
                conn,
                [
                    {"period": period, "bucket_start": hour, "node_id": node_id, "provider": provider, "cost": cost}
                    for (period, hour, node_id, provider), cost in sorted(buckets.items())
                ],
            )

    async def snapshot(self, period: str) -> list[ScopeSpend]:
        return await retrying(lambda: self._snapshot(period))

    async def _snapshot(self, period: str) -> list[ScopeSpend]:
        # Reads only: expired reservations are subtracted here rather than purged, so the budget page never
        # waits for SQLite's write lock behind a crowd of reservations (the next `reserve` purges them).
        c, r = budget_scopes.c, budget_reservations.c
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(c.scope, c.spent, c.reserved)
                    .where(c.period == period, (c.spent != 0) | (c.reserved != 0))
                    .order_by(c.scope)
                )
            ).all()
            expired = (
                await conn.execute(
                    select(r.scopes, r.amount).where(r.period == period, r.expires_at < to_utc(self._clock.now()))
                )
            ).all()
        held: dict[str, int] = defaultdict(int)
        for scopes, amount in expired:
            for scope in scopes:
                held[scope] += int(amount)
        return [
            ScopeSpend(scope=row.scope, spent=int(row.spent), reserved=max(0, int(row.reserved) - held[row.scope]))
            for row in rows
            if int(row.spent) != 0 or int(row.reserved) - held[row.scope] > 0
        ]

    async def history(self, period: str) -> list[SpendBucket]:
        return await retrying(lambda: self._history(period))

    async def _history(self, period: str) -> list[SpendBucket]:
        s = budget_spend.c
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(s.bucket_start, s.node_id, s.provider, s.cost)
                    .where(s.period == period)
                    .order_by(s.bucket_start, s.node_id, s.provider)
                )
            ).all()
        return [
            SpendBucket(
                bucket_start=db_time(row.bucket_start) or row.bucket_start,
                node_id=row.node_id,
                provider=row.provider,
                cost=int(row.cost),
            )
            for row in rows
        ]
