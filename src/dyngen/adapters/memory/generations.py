"""`MemoryGenerationRepository` and `MemoryJobRepository`: generations, their artifacts, and the job
operations on them (a job is its generation record), in a `MemoryDatabase`.

Each state change checks and writes without awaiting in between, so it is as atomic as the SQL adapters'
conditional UPDATE: two runners can never both own a job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from dyngen.adapters.memory.database import DuplicateKeyError, MemoryDatabase, json_copy, utc, utc_now
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.ports import (
    HISTORY_PER_KEY,
    ContentHash,
    DuplicateIdempotencyKey,
    GenerationFilter,
    JobEvent,
    NewJobEvent,
    QueueStats,
)

QUEUED = GenerationStatus.QUEUED.value
PROCESSING = GenerationStatus.PROCESSING.value
COMPLETE = GenerationStatus.COMPLETE.value
TIMES = ("created_at", "completed_at", "queued_at", "started_at", "lease_expires_at")
# As many rows as the SQL adapters return at most from one listing.
LISTING_LIMIT = 1000


def _row(record: GenerationRecord) -> dict[str, Any]:
    row = json_copy(record.model_dump(mode="json", exclude={"artifacts", *TIMES}))
    row.update({name: utc(getattr(record, name)) for name in TIMES})
    return row


def _artifact_row(artifact: ArtifactRecord) -> dict[str, Any]:
    return {**artifact.model_dump(), "created_at": utc(artifact.created_at)}


def _before(left: datetime | None, right: datetime) -> bool:
    """SQL's `left < right`: a missing time is never before anything."""
    return left is not None and left < right


class MemoryGenerationRepository:
    """Stores `GenerationRecord`s with their `ArtifactRecord`s.

    Args:
        database: The tables (shared with the other memory repositories of the process).
    """

    def __init__(self, *, database: MemoryDatabase) -> None:
        self._db = database

    def _record(self, row: dict[str, Any]) -> GenerationRecord:
        artifacts = sorted(self._db.artifacts.get(row["id"], []), key=lambda a: (a["created_at"], a["id"]))
        return GenerationRecord.model_validate(
            {
                **json_copy({k: v for k, v in row.items() if k not in TIMES}),
                **{name: row[name] for name in TIMES},
                "artifacts": [ArtifactRecord.model_validate(a) for a in artifacts],
            }
        )

    def _check_artifacts(self, record: GenerationRecord) -> list[dict[str, Any]]:
        rows = [_artifact_row(a) for a in record.artifacts]
        seen: set[str] = set()
        for row in rows:
            if row["id"] in seen or row["id"] in self._db.artifact_owner:
                raise DuplicateKeyError("generation_artifacts", row["id"])
            seen.add(row["id"])
        return rows

    def _insert_artifacts(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._db.artifacts.setdefault(row["generation_id"], []).append(row)
            self._db.artifact_owner[row["id"]] = row["generation_id"]

    async def add(self, record: GenerationRecord) -> None:
        # Every check before the first write: a failed add leaves nothing behind.
        if record.id in self._db.generations:
            raise DuplicateKeyError("generations", record.id)
        key = record.idempotency_key
        if key is not None and key in self._db.idempotency_keys:
            raise DuplicateIdempotencyKey(key)
        artifacts = self._check_artifacts(record)
        self._db.generations[record.id] = _row(record)
        if key is not None:
            self._db.idempotency_keys[key] = record.id
        self._insert_artifacts(artifacts)

    def add_soon(self, record: GenerationRecord) -> asyncio.Future[None] | None:
        return None  # nothing batched: `add` it

    async def get(self, generation_id: str) -> GenerationRecord | None:
        row = self._db.generations.get(generation_id)
        return self._record(row) if row is not None else None

    async def find(self, query: GenerationFilter, *, ids: list[str] | None = None) -> list[GenerationRecord]:
        wanted = {
            name: getattr(query, name)
            for name in ("cache_key", "node_id", "status", "version")
            if getattr(query, name) is not None
        }
        rows = (
            self._db.generations.values()
            if ids is None
            else [self._db.generations[i] for i in dict.fromkeys(ids) if i in self._db.generations]
        )
        found = [row for row in rows if all(row[name] == value for name, value in wanted.items())]
        # Newest first, ties by id (ORDER BY created_at DESC, id).
        found.sort(key=lambda row: row["id"])
        found.sort(key=lambda row: row["created_at"], reverse=True)
        return [self._record(row) for row in found[: max(query.limit, 0)]]

    async def cache_keys(
        self,
        *,
        node_id: str | None = None,
        version: int | None = None,
        cache_key: str | None = None,
        prefix: str | None = None,
    ) -> list[str]:
        keys = {
            row["cache_key"]
            for row in self._db.generations.values()
            if row["status"] == COMPLETE
            and (node_id is None or row["node_id"] == node_id)
            and (version is None or row["version"] == version)
            and (cache_key is None or row["cache_key"] == cache_key)
            and (prefix is None or row["cache_key"].startswith(prefix))
        }
        return sorted(keys)

    async def content_hashes(
        self, cache_keys: Sequence[str], *, per_key: int = HISTORY_PER_KEY
    ) -> dict[str, list[ContentHash]]:
        return self._content_hashes(cache_keys, per_key)

    def content_hashes_soon(self, cache_key: str) -> asyncio.Future[list[ContentHash]]:
        future: asyncio.Future[list[ContentHash]] = asyncio.get_running_loop().create_future()
        future.set_result(self._content_hashes([cache_key], HISTORY_PER_KEY).get(cache_key, []))
        return future

    def _content_hashes(self, cache_keys: Sequence[str], per_key: int) -> dict[str, list[ContentHash]]:
        wanted = set(cache_keys)
        rows = [r for r in self._db.generations.values() if r["cache_key"] in wanted and r["status"] == COMPLETE]
        rows.sort(key=lambda row: row["id"])
        rows.sort(key=lambda row: row["created_at"], reverse=True)
        found: dict[str, list[ContentHash]] = {}
        for row in rows:
            known = found.setdefault(row["cache_key"], [])
            if len(known) < per_key:
                known.append(
                    ContentHash(
                        id=row["id"],
                        seed=row["seed"],
                        config_fingerprint=row["config_fingerprint"],
                        provider_fingerprint=row["provider_fingerprint"],
                        content_hash=row["content_hash"],
                    )
                )
        return found

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        owner = self._db.artifact_owner.get(artifact_id)
        if owner is None:
            return None
        row = next(a for a in self._db.artifacts[owner] if a["id"] == artifact_id)
        return ArtifactRecord.model_validate(row)

    async def ping(self) -> None:
        """Always answers: the tables are in this process."""


class MemoryJobRepository(MemoryGenerationRepository):
    """Generations plus the job operations (see the module docstring)."""

    def _rows(self, *, status: str) -> list[dict[str, Any]]:
        return [row for row in self._db.generations.values() if row["status"] == status]

    async def by_idempotency_key(self, key: str) -> GenerationRecord | None:
        found = self._db.idempotency_keys.get(key)
        return await self.get(found) if found is not None else None

    async def active_for(self, *, cache_key: str, fingerprint: str) -> GenerationRecord | None:
        live = [
            row
            for row in self._db.generations.values()
            if row["cache_key"] == cache_key
            and row["config_fingerprint"] == fingerprint
            and row["status"] in (QUEUED, PROCESSING)
            and not row["cancel_requested"]
        ]
        return self._record(min(live, key=lambda row: row["created_at"])) if live else None

    async def add(self, record: GenerationRecord, *, events: Sequence[NewJobEvent] = ()) -> None:
        await super().add(record)
        for event in events:
            await self.add_event(record.id, event.type, event.data, at=event.at)

    async def claim(
        self,
        job_id: str,
        *,
        owner: str,
        now: datetime,
        lease_until: datetime,
        started: Callable[[GenerationRecord], NewJobEvent] | None = None,
    ) -> GenerationRecord | None:
        row = self._db.generations.get(job_id)
        at = utc_now(now)
        if row is None or row["cancel_requested"]:
            return None
        if not (row["status"] == QUEUED or (row["status"] == PROCESSING and _before(row["lease_expires_at"], at))):
            return None
        row.update(
            status=PROCESSING,
            lease_owner=owner,
            lease_expires_at=utc(lease_until),
            started_at=row["started_at"] or at,
        )
        claimed = self._record(row)
        if started is not None:
            event = started(claimed)
            await self.add_event(job_id, event.type, event.data, at=event.at)
        return claimed

    async def heartbeat(self, job_id: str, *, owner: str, lease_until: datetime) -> tuple[bool, bool]:
        return renew_lease(self._db.generations.get(job_id), owner=owner, running=PROCESSING, lease_until=lease_until)

    def _overwrite(self, record: GenerationRecord, *, only_if: str | None = None) -> bool:
        row = self._db.generations.get(record.id)
        if row is None or (only_if is not None and row["status"] != only_if):
            return False
        artifacts = self._check_artifacts(record)
        key = record.idempotency_key
        holder = self._db.idempotency_keys.get(key) if key is not None else None
        if holder is not None and holder != record.id:
            raise DuplicateKeyError("generations.idempotency_key", key)
        if row["idempotency_key"] is not None and row["idempotency_key"] != key:
            del self._db.idempotency_keys[row["idempotency_key"]]
        if key is not None:
            self._db.idempotency_keys[key] = record.id
        row.update(_row(record) | {"lease_owner": None, "lease_expires_at": None})
        self._insert_artifacts(artifacts)
        return True

    async def finish(self, record: GenerationRecord, *, events: Sequence[NewJobEvent] = ()) -> None:
        row = self._db.generations.get(record.id)
        if row is None or row["status"] not in (QUEUED, PROCESSING) or not self._overwrite(record):
            return  # final already: a final record written twice changes nothing the second time
        for event in events:
            await self.add_event(record.id, event.type, event.data, at=event.at)

    async def fail_queued(self, record: GenerationRecord) -> bool:
        return self._overwrite(record, only_if=QUEUED)

    async def requeue(self, job_id: str, *, attempts: int, owner: str | None) -> bool:
        row = self._db.generations.get(job_id)
        if row is None or row["status"] != PROCESSING or row["lease_owner"] != owner:
            return False
        row.update(status=QUEUED, lease_owner=None, lease_expires_at=None, job_attempts=attempts)
        return True

    async def request_cancel(self, job_id: str) -> GenerationRecord | None:
        row = self._db.generations.get(job_id)
        if row is None:
            return None
        if row["status"] in (QUEUED, PROCESSING):
            row["cancel_requested"] = True
        return self._record(row)

    async def expired(self, *, now: datetime) -> list[GenerationRecord]:
        at = utc_now(now)
        lapsed = [row for row in self._rows(status=PROCESSING) if _before(row["lease_expires_at"], at)]
        return [self._record(row) for row in lapsed[:LISTING_LIMIT]]

    async def queued(self, *, before: datetime) -> list[GenerationRecord]:
        at = utc_now(before)
        waiting = [row for row in self._rows(status=QUEUED) if _before(row["queued_at"], at)]
        waiting.sort(key=lambda row: row["queued_at"])  # the job that waited longest first
        return [self._record(row) for row in waiting[:LISTING_LIMIT]]

    async def add_event(self, job_id: str, type_: str, data: dict[str, Any], *, at: datetime) -> int:
        if job_id not in self._db.generations:
            raise KeyError(f"no generation {job_id!r} for the event (foreign key)")
        event_id = next(self._db.event_ids)
        self._db.generation_events.setdefault(job_id, []).append(
            {"id": event_id, "job_id": job_id, "type": type_, "data": json_copy(data), "created_at": utc(at)}
        )
        return event_id

    async def events_after(self, job_id: str, after_id: int) -> list[JobEvent]:
        return [
            JobEvent(
                id=e["id"], job_id=e["job_id"], type=e["type"], data=json_copy(e["data"]), created_at=e["created_at"]
            )
            for e in self._db.generation_events.get(job_id, [])
            if e["id"] > after_id
        ]

    async def queue_stats(self) -> QueueStats:
        waiting = [row["queued_at"] for row in self._rows(status=QUEUED)]
        known = [t for t in waiting if t is not None]
        return QueueStats(depth=len(waiting), oldest_queued_at=min(known) if known else None)


def renew_lease(row: dict[str, Any] | None, *, owner: str, running: str, lease_until: datetime) -> tuple[bool, bool]:
    """Extend the lease `owner` holds on a leased row (a job, a warm-up run) that is still `running`.

    Returns (still mine, cancel requested); a row that is gone counts as not mine and cancelled.
    """
    if row is None:
        return False, True
    mine = row["lease_owner"] == owner and row["status"] == running
    if mine:
        row["lease_expires_at"] = utc(lease_until)
    return mine, bool(row["cancel_requested"])
