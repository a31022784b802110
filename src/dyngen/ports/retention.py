"""What retention asks of the database: expired records, what refers to them, and their removal."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ExpiredGeneration:
    """A finished generation past its retention window (a candidate for removal)."""

    id: str
    cache_key: str
    strategy: str
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RemovedRecords:
    """What a removal took (or, in a dry run, would take) from the database.

    Attributes:
        generations: Generation records removed.
        artifacts: Artifact records removed.
        events: Events removed with the generations.
        orphans: Storage URI -> size of the objects no remaining artifact record names: their bytes can go.
    """

    generations: int = 0
    artifacts: int = 0
    events: int = 0
    orphans: dict[str, int] = field(default_factory=dict)


class RetentionRepository(Protocol):
    """The database side of retention (SQLite and PostgreSQL alike)."""

    async def expired_generations(
        self,
        *,
        cutoffs: Mapping[str, datetime],
        failed_before: datetime | None,
        after: tuple[datetime, str] | None = None,
        limit: int = 500,
    ) -> list[ExpiredGeneration]:
        """Finished (complete or failed), unreviewed generations created before their strategy's cutoff
        (a strategy without one: never), failed ones also before `failed_before`; oldest first, after the
        (created_at, id) cursor `after`."""
        ...

    async def newest_complete(self, cache_keys: Collection[str]) -> dict[str, list[ExpiredGeneration]]:
        """The newest complete generation of each key, every one of them when several tie (keys without
        one left out)."""
        ...

    async def artifact_owners(self, artifact_ids: Collection[str]) -> dict[str, str]:
        """Artifact id -> the generation it belongs to, for the ids that are artifacts."""
        ...

    async def authored_references(self) -> bytes:
        """Every scene graph body and node config (every version, deleted graphs too), as JSON bytes:
        the ids they name are references."""
        ...

    async def remove_generations(self, ids: Sequence[str], *, dry_run: bool = False) -> RemovedRecords:
        """Remove the generations (and their artifact records and events) that still exist, are finished
        and have no review, in one transaction (rolled back when `dry_run`)."""
        ...

    async def named_uris(self, uris: Collection[str]) -> set[str]:
        """The storage URIs among `uris` that some artifact record names."""
        ...

    async def remove_events(self, *, before: datetime, dry_run: bool = False) -> int:
        """Remove the events older than `before` of finished jobs and finished warm-up runs."""
        ...

    async def remove_warmups(self, *, before: datetime, dry_run: bool = False) -> int:
        """Remove the warm-up runs that finished before `before`, with their items and events."""
        ...
