"""`MemoryWarmupRepository`: warm-up runs, their items' outcomes and their event streams, in a
`MemoryDatabase` (the cost of a run is summed from the generations of the same database).

A claim checks and takes a run without awaiting in between, so two runners never both own a run; a
batch of item outcomes is stored together with its events at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dyngen.adapters.memory.database import MemoryDatabase, json_copy, utc, utc_now
from dyngen.adapters.memory.generations import renew_lease
from dyngen.domain.warmup import (
    FINISHED,
    ItemOutcome,
    ItemStatus,
    WarmupCounts,
    WarmupEvent,
    WarmupItem,
    WarmupRun,
    WarmupStatus,
)

QUEUED = WarmupStatus.QUEUED.value
RUNNING = WarmupStatus.RUNNING.value
PENDING = ItemStatus.PENDING.value
# As many as the SQL adapter lists at most.
CLAIMABLE_LIMIT = 100
EVENTS_LIMIT = 1000


def _lapsed(row: dict[str, Any], at: datetime) -> bool:
    return row["lease_expires_at"] is not None and row["lease_expires_at"] < at


def _run(row: dict[str, Any]) -> WarmupRun:
    return WarmupRun(
        id=row["id"],
        graph_id=row["graph_id"],
        graph_version=row["graph_version"],
        origin=row["origin"],
        status=WarmupStatus(row["status"]),
        concurrency=row["concurrency"],
        options=json_copy(row["options"]),
        skipped=json_copy(row["skipped"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        cancel_requested=row["cancel_requested"],
    )


class MemoryWarmupRepository:
    def __init__(self, *, database: MemoryDatabase) -> None:
        self._db = database

    async def add_warmup(self, run: WarmupRun, items: Iterable[WarmupItem]) -> None:
        rows = [
            {
                "position": item.position,
                "node_id": item.node_id,
                "request": json_copy(item.request),
                "status": item.status.value,
                "error_code": None,
                "cache_key": None,
                "generation_id": None,
                "finished_at": None,
            }
            for item in items
        ]
        if run.id in self._db.warmups:
            raise KeyError(f"warm-up {run.id!r} exists already (primary key)")
        self._db.warmups[run.id] = {
            "id": run.id,
            "graph_id": run.graph_id,
            "graph_version": run.graph_version,
            "origin": run.origin,
            "status": run.status.value,
            "concurrency": run.concurrency,
            "options": json_copy(run.options),
            "skipped": json_copy(run.skipped),
            "created_at": utc(run.created_at),
            "started_at": None,
            "finished_at": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "cancel_requested": False,
        }
        self._db.warmup_items[run.id] = sorted(rows, key=lambda row: row["position"])

    async def get_warmup(self, warmup_id: str) -> WarmupRun | None:
        row = self._db.warmups.get(warmup_id)
        return _run(row) if row is not None else None

    async def claim_warmup(
        self, warmup_id: str, *, owner: str, now: datetime, lease_until: datetime, finished: bool = True
    ) -> WarmupRun | None:
        row = self._db.warmups.get(warmup_id)
        if row is None:
            return None
        at = utc_now(now)
        # A finished run is claimed only by an explicit resume (see SqlAlchemyWarmupRepository).
        ended = {s.value for s in FINISHED} if finished else set()
        status = row["status"]
        claimable = (
            status == QUEUED
            or status in ended
            or (status == RUNNING and (row["lease_expires_at"] is None or row["lease_expires_at"] < at))
        )
        if not claimable:
            return None
        row.update(
            status=RUNNING,
            lease_owner=owner,
            lease_expires_at=utc(lease_until),
            cancel_requested=False,
            started_at=row["started_at"] or at,
            finished_at=None,
        )
        for item in self._db.warmup_items.get(warmup_id, []):  # what failed before is tried again
            if item["status"] == ItemStatus.FAILED.value:
                item.update(status=PENDING, error_code=None, finished_at=None)
        return _run(row)

    async def claimable_warmups(self, *, origin: str, now: datetime) -> list[str]:
        at = utc_now(now)
        runs = [
            row
            for row in self._db.warmups.values()
            if row["origin"] == origin and (row["status"] == QUEUED or (row["status"] == RUNNING and _lapsed(row, at)))
        ]
        runs.sort(key=lambda row: row["created_at"])
        return [row["id"] for row in runs[:CLAIMABLE_LIMIT]]

    async def heartbeat_warmup(self, warmup_id: str, *, owner: str, lease_until: datetime) -> tuple[bool, bool]:
        return renew_lease(self._db.warmups.get(warmup_id), owner=owner, running=RUNNING, lease_until=lease_until)

    async def pending_items(self, warmup_id: str) -> list[WarmupItem]:
        return [
            WarmupItem(
                position=row["position"],
                node_id=row["node_id"],
                request=json_copy(row["request"]),
                status=ItemStatus.PENDING,
            )
            for row in self._db.warmup_items.get(warmup_id, [])
            if row["status"] == PENDING
        ]

    async def record_items(
        self,
        warmup_id: str,
        outcomes: Iterable[ItemOutcome],
        *,
        events: Iterable[tuple[str, dict[str, Any]]],
        at: datetime,
    ) -> None:
        when = utc(at)
        by_position = {row["position"]: row for row in self._db.warmup_items.get(warmup_id, [])}
        appended = [(type_, json_copy(data)) for type_, data in events]
        if appended and warmup_id not in self._db.warmups:
            raise KeyError(f"no warm-up {warmup_id!r} for the events (foreign key)")
        for outcome in outcomes:
            row = by_position.get(outcome.position)
            if row is not None:
                row.update(
                    status=outcome.status.value,
                    error_code=outcome.error_code,
                    cache_key=outcome.cache_key,
                    generation_id=outcome.generation_id,
                    finished_at=when,
                )
        for type_, data in appended:
            self._append_event(warmup_id, type_, data, when)

    def _append_event(self, warmup_id: str, type_: str, data: dict[str, Any], at: datetime | None) -> int:
        event_id = next(self._db.event_ids)
        self._db.warmup_events.setdefault(warmup_id, []).append(
            {"id": event_id, "warmup_id": warmup_id, "type": type_, "data": data, "created_at": at}
        )
        return event_id

    async def finish_warmup(self, warmup_id: str, *, owner: str | None, status: WarmupStatus, at: datetime) -> bool:
        row = self._db.warmups.get(warmup_id)
        if row is None:
            return False
        if owner is not None:
            ends = bool(row["lease_owner"] == owner and row["status"] == RUNNING)
        else:
            ends = bool(row["status"] in (QUEUED, RUNNING))
        if ends:
            row.update(status=status.value, finished_at=utc(at), lease_owner=None, lease_expires_at=None)
        return ends

    async def request_warmup_cancel(self, warmup_id: str) -> WarmupRun | None:
        row = self._db.warmups.get(warmup_id)
        if row is None:
            return None
        if row["status"] in (QUEUED, RUNNING):
            row["cancel_requested"] = True
        return _run(row)

    async def warmup_counts(self, warmup_id: str) -> WarmupCounts:
        counts = WarmupCounts()
        cost = 0.0
        for row in self._db.warmup_items.get(warmup_id, []):
            counts.total += 1
            status = row["status"]
            if status == PENDING:
                counts.pending += 1
            elif status == ItemStatus.GENERATED.value:
                counts.generated += 1
                generation = self._db.generations.get(row["generation_id"] or "")
                cost += float(generation["cost"]) if generation is not None else 0.0
            elif status == ItemStatus.CACHED.value:
                counts.cached += 1
            else:
                code = row["error_code"] or "UNKNOWN"
                counts.failed[code] = counts.failed.get(code, 0) + 1
        counts.cost = cost
        return counts

    async def add_warmup_event(self, warmup_id: str, type_: str, data: dict[str, Any], *, at: datetime) -> int:
        if warmup_id not in self._db.warmups:
            raise KeyError(f"no warm-up {warmup_id!r} for the event (foreign key)")
        return self._append_event(warmup_id, type_, json_copy(data), utc(at))

    async def warmup_events_after(self, warmup_id: str, after_id: int) -> list[WarmupEvent]:
        found = [e for e in self._db.warmup_events.get(warmup_id, []) if e["id"] > after_id][:EVENTS_LIMIT]
        return [
            WarmupEvent(
                id=e["id"], warmup_id=warmup_id, type=e["type"], data=json_copy(e["data"]), created_at=e["created_at"]
            )
            for e in found
        ]
