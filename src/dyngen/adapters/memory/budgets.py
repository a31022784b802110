"""`MemoryBudgetLedger`: budget reservations in a `MemoryDatabase` (the ephemeral embedded mode).

Each step is one transaction under the database's lock, and it computes every change before applying
any: a refused reservation holds nothing (not even the expired reservations it purged on the way, as the
SQL ledger's rolled-back transaction would), and no two callers can both take the last of a budget.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from dyngen.adapters.memory.database import MemoryDatabase, utc_now
from dyngen.ports import BudgetRefusal, Clock, Reservation, ScopeSpend, SpendBucket


class MemoryBudgetLedger:
    """The memory ledger (see the module docstring).

    Args:
        database: The tables (ledgers on one database share their budgets, like processes on one file).
        clock: Reservation expiry times.
    """

    def __init__(self, *, database: MemoryDatabase, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    def _scope(self, period: str, scope: str) -> dict[str, int]:
        return self._db.budget_scopes.setdefault((period, scope), {"spent": 0, "reserved": 0})

    def _expired(self, period: str, now: datetime) -> tuple[list[str], dict[str, int]]:
        """The period's expired reservations, and what each scope holds for them."""
        ids: list[str] = []
        held: dict[str, int] = defaultdict(int)
        for reservation_id, row in self._db.budget_reservations.items():
            if row["period"] == period and row["expires_at"] < now:
                ids.append(reservation_id)
                for scope in row["scopes"]:
                    held[scope] += row["amount"]
        return ids, held

    def _purge(self, period: str, ids: list[str], held: dict[str, int]) -> None:
        for reservation_id in ids:
            del self._db.budget_reservations[reservation_id]
        for scope, amount in held.items():
            self._scope(period, scope)["reserved"] -= amount

    async def reserve(
        self, reservation: Reservation, *, limits: dict[str, int | None], ttl_s: float
    ) -> BudgetRefusal | None:
        async with self._db.lock:
            if reservation.id in self._db.budget_reservations:
                return None  # this very reservation is held already
            now = utc_now(self._clock.now())
            period, amount = reservation.period, reservation.amount
            expired, freed = self._expired(period, now)
            for scope in sorted(reservation.scopes):
                limit = limits.get(scope)
                row = self._db.budget_scopes.get((period, scope), {"spent": 0, "reserved": 0})
                reserved = row["reserved"] - freed.get(scope, 0)
                if limit is not None and row["spent"] + reserved + amount > limit:
                    return BudgetRefusal(scope=scope, limit=limit, remaining=limit - row["spent"] - reserved)
            self._purge(period, expired, freed)
            for scope in reservation.scopes:
                self._scope(period, scope)["reserved"] += amount
            self._db.budget_reservations[reservation.id] = {
                "period": period,
                "scopes": list(reservation.scopes),
                "amount": amount,
                "expires_at": now + timedelta(seconds=ttl_s),
            }
            return None

    async def commit(self, reservation: Reservation, *, actual: int, at: datetime, held: bool = True) -> None:
        await self._settle(reservation, actual, at)

    def commit_soon(
        self, reservation: Reservation, *, actual: int, at: datetime, held: bool = True
    ) -> asyncio.Future[None] | None:
        return None  # nothing batched: `commit` it

    async def release(self, reservation: Reservation) -> None:
        await self._settle(reservation, 0, None)

    async def _settle(self, reservation: Reservation, actual: int, at: datetime | None) -> None:
        async with self._db.lock:
            row = self._db.budget_reservations.pop(reservation.id, None)
            held = int(row["amount"]) if row is not None else 0
            if row is None and actual <= 0:
                return  # expired (and given back) or never held, and nothing spent
            for scope in reservation.scopes:
                state = self._scope(reservation.period, scope)
                state["reserved"] -= held
                state["spent"] += max(0, actual)
            if actual > 0 and at is not None:
                hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                bucket = (reservation.period, hour, reservation.node_id, reservation.provider)
                self._db.budget_spend[bucket] = self._db.budget_spend.get(bucket, 0) + actual

    async def snapshot(self, period: str) -> list[ScopeSpend]:
        async with self._db.lock:
            self._purge(period, *self._expired(period, utc_now(self._clock.now())))
            return [
                ScopeSpend(scope=scope, spent=state["spent"], reserved=max(0, state["reserved"]))
                for (of, scope), state in sorted(self._db.budget_scopes.items())
                if of == period and (state["spent"] != 0 or state["reserved"] != 0)
            ]

    async def history(self, period: str) -> list[SpendBucket]:
        return [
            SpendBucket(bucket_start=hour, node_id=node_id, provider=provider, cost=cost)
            for (of, hour, node_id, provider), cost in sorted(self._db.budget_spend.items())
            if of == period
        ]
