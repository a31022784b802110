"""`MemoryRetentionRepository`: retention's queries on a `MemoryDatabase` (the memory mode's records).

Each operation runs without awaiting, so a removal is one transaction, as in the SQL adapter; a dry run
counts the same way and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from dyngen.adapters.memory.database import MemoryDatabase, utc_now
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.warmup import WarmupStatus
from dyngen.ports import ExpiredGeneration, RemovedRecords

FINISHED = (GenerationStatus.COMPLETE.value, GenerationStatus.FAILED.value)
COMPLETE = GenerationStatus.COMPLETE.value
FAILED = GenerationStatus.FAILED.value
WARMUPS_ENDED = (WarmupStatus.COMPLETE.value, WarmupStatus.FAILED.value, WarmupStatus.CANCELLED.value)


def _expired(row: dict[str, Any]) -> ExpiredGeneration:
    return ExpiredGeneration(
        id=row["id"],
        cache_key=row["cache_key"],
        strategy=row["strategy"],
        status=row["status"],
        created_at=row["created_at"],
    )


def _before(at: datetime | None, cutoff: datetime) -> bool:
    """SQL's `at < cutoff`: a missing time is never before anything."""
    return at is not None and at < cutoff


class MemoryRetentionRepository:
    """Retention's side of the memory records.

    Args:
        database: The tables the other memory repositories of the process use.
    """

    def __init__(self, *, database: MemoryDatabase) -> None:
        self._db = database

    def _reviewed(self) -> set[str]:
        return {row["generation_id"] for row in self._db.reviews.values()}

    def _removable(self, row: dict[str, Any] | None, reviewed: set[str]) -> bool:
        return row is not None and row["status"] in FINISHED and row["id"] not in reviewed

    async def expired_generations(
        self,
        *,
        cutoffs: Mapping[str, datetime],
        failed_before: datetime | None,
        after: tuple[datetime, str] | None = None,
        limit: int = 500,
    ) -> list[ExpiredGeneration]:
        windows = {strategy: utc_now(at) for strategy, at in cutoffs.items()}
        failed_cutoff = utc_now(failed_before) if failed_before is not None else None
        cursor = (utc_now(after[0]), after[1]) if after is not None else None
        reviewed = self._reviewed()

        def expired(row: dict[str, Any]) -> bool:
            at = row["created_at"]
            in_window = row["strategy"] in windows and _before(at, windows[row["strategy"]])
            failed = failed_cutoff is not None and row["status"] == FAILED and _before(at, failed_cutoff)
            return (in_window or failed) and (cursor is None or (at, row["id"]) > cursor)

        found = [row for row in self._db.generations.values() if self._removable(row, reviewed) and expired(row)]
        found.sort(key=lambda row: (row["created_at"], row["id"]))
        return [_expired(row) for row in found[: max(limit, 0)]]

    async def newest_complete(self, cache_keys: Collection[str]) -> dict[str, list[ExpiredGeneration]]:
        wanted = set(cache_keys)
        by_key: dict[str, list[dict[str, Any]]] = {}
        for row in self._db.generations.values():
            if row["status"] == COMPLETE and row["cache_key"] in wanted:
                by_key.setdefault(row["cache_key"], []).append(row)
        newest: dict[str, list[ExpiredGeneration]] = {}
        for key, rows in by_key.items():
            latest = max(row["created_at"] for row in rows)
            tied = sorted((row for row in rows if row["created_at"] == latest), key=lambda row: row["id"])
            newest[key] = [_expired(row) for row in tied]
        return newest

    async def artifact_owners(self, artifact_ids: Collection[str]) -> dict[str, str]:
        owners = self._db.artifact_owner
        return {artifact_id: owners[artifact_id] for artifact_id in artifact_ids if artifact_id in owners}

    async def authored_references(self) -> bytes:
        bodies = [row["body"] for versions in self._db.graphs.values() for row in versions]
        configs = [row["config"] for versions in self._db.node_configs.values() for row in versions]
        return json.dumps([*bodies, *configs], separators=(",", ":")).encode()

    def _named(self) -> set[str]:
        return {row["storage_uri"] for rows in self._db.artifacts.values() for row in rows}

    async def remove_generations(self, ids: Sequence[str], *, dry_run: bool = False) -> RemovedRecords:
        reviewed = self._reviewed()
        doomed = sorted({i for i in ids if self._removable(self._db.generations.get(i), reviewed)})
        artifact_rows = [row for i in doomed for row in self._db.artifacts.get(i, [])]
        events = sum(len(self._db.generation_events.get(i, [])) for i in doomed)
        sizes = {row["storage_uri"]: int(row["size"]) for row in artifact_rows}
        gone = set(doomed)
        still_named = {
            row["storage_uri"] for owner, rows in self._db.artifacts.items() if owner not in gone for row in rows
        }
        removed = RemovedRecords(
            generations=len(doomed),
            artifacts=len(artifact_rows),
            events=events,
            orphans={uri: size for uri, size in sizes.items() if uri not in still_named},
        )
        if not dry_run:
            for generation_id in doomed:
                row = self._db.generations.pop(generation_id)
                if row["idempotency_key"] is not None:
                    self._db.idempotency_keys.pop(row["idempotency_key"], None)
                for artifact in self._db.artifacts.pop(generation_id, []):
                    self._db.artifact_owner.pop(artifact["id"], None)
                self._db.generation_events.pop(generation_id, None)
        return removed

    async def named_uris(self, uris: Collection[str]) -> set[str]:
        return set(uris) & self._named()

    async def remove_events(self, *, before: datetime, dry_run: bool = False) -> int:
        cutoff = utc_now(before)
        job_done = {i for i, row in self._db.generations.items() if row["status"] in FINISHED}
        run_done = {i for i, row in self._db.warmups.items() if row["status"] in WARMUPS_ENDED}
        removed = 0
        for streams, done in ((self._db.generation_events, job_done), (self._db.warmup_events, run_done)):
            for owner in done & set(streams):
                kept = [event for event in streams[owner] if not _before(event["created_at"], cutoff)]
                removed += len(streams[owner]) - len(kept)
                if not dry_run:
                    streams[owner] = kept
        return removed

    async def remove_warmups(self, *, before: datetime, dry_run: bool = False) -> int:
        cutoff = utc_now(before)
        ended = [
            run_id
            for run_id, row in self._db.warmups.items()
            if row["status"] in WARMUPS_ENDED and _before(row["finished_at"], cutoff)
        ]
        if not dry_run:
            for run_id in ended:
                del self._db.warmups[run_id]
                self._db.warmup_items.pop(run_id, None)
                self._db.warmup_events.pop(run_id, None)
        return len(ended)
