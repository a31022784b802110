"""What is stored about generations and authoring: records, reviews, graphs, node versions, API keys."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dyngen.domain.cache_keys import ReviewScore
from dyngen.domain.records import ArtifactRecord, GenerationRecord


@dataclass(frozen=True, slots=True)
class GenerationFilter:
    cache_key: str | None = None
    node_id: str | None = None
    status: str | None = None
    version: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ContentHash:
    """What a completed generation made, from which inputs: what the seed-drift check compares."""

    id: str
    seed: int | None
    config_fingerprint: str
    provider_fingerprint: str | None
    content_hash: str | None


HISTORY_PER_KEY = 20
"""How many of a key's newest completed generations the seed-drift check reads and compares with."""


class GenerationRepository(Protocol):
    """Stores every generation and its artifacts."""

    async def add(self, record: GenerationRecord) -> None: ...

    def add_soon(self, record: GenerationRecord) -> asyncio.Future[None] | None:
        """`add` without a task of its own, when the store writes records in batches: the record is queued for
        the next batch at once, and the future is done once that batch committed (or holds its error, retrieved
        already). The future is the caller's own: one that stops waiting (or cancels it) leaves the record in its
        batch. None when the store does not batch this record: `add` it."""
        ...

    async def get(self, generation_id: str) -> GenerationRecord | None: ...

    async def find(self, query: GenerationFilter) -> list[GenerationRecord]: ...

    async def cache_keys(
        self,
        *,
        node_id: str | None = None,
        version: int | None = None,
        cache_key: str | None = None,
        prefix: str | None = None,
    ) -> list[str]:
        """The distinct keys that completed generations filled, narrowed by every selector given."""
        ...

    async def content_hashes(
        self, cache_keys: Sequence[str], *, per_key: int = HISTORY_PER_KEY
    ) -> dict[str, list[ContentHash]]:
        """For each key, its newest `per_key` completed generations' inputs and content hash (newest first;
        a key without any is left out): one light read, no artifacts, for the seed-drift check."""
        ...

    def content_hashes_soon(self, cache_key: str) -> asyncio.Future[list[ContentHash]]:
        """`content_hashes` of one key (its newest `HISTORY_PER_KEY`) as a future, started now without a task
        of its own (a miss asks for its key's history while its provider runs): done at once when the store
        reads in place, else done by a read the key shares with the other keys asked for meanwhile. A failed
        read fails the future (its error retrieved already: a caller may stop waiting). Needs a running event
        loop."""
        ...

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None: ...

    async def ping(self) -> None: ...


class RecordOutbox(Protocol):
    """Generation records the database could not take in time, kept durably until it can.

    A player may already hold a URL naming such a record's artifact: the record is written later
    (`services.records.replay_outbox`), and is readable from here meanwhile.
    """

    async def put(self, record: GenerationRecord) -> None:
        """Keep `record` (durably: it survives a restart of the process)."""
        ...

    def holding(self) -> bool:
        """True while records wait: the database is taken as down, new records queue behind them."""
        ...

    async def waiting(self) -> list[GenerationRecord]:
        """Every record waiting, oldest first."""
        ...

    async def remove(self, generation_id: str) -> None:
        """Forget a record once the database has it."""
        ...

    async def reject(self, generation_id: str) -> None:
        """Set aside a record the database refuses for good (kept for an operator, never replayed)."""
        ...

    async def get(self, generation_id: str) -> GenerationRecord | None: ...

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None: ...


@dataclass(frozen=True, slots=True)
class Review:
    """A reviewer's 1-5 score of one generation, with what it is grouped by (its key, node and arm)."""

    id: str
    generation_id: str
    node_id: str | None
    cache_key: str
    arm: str | None
    score: int
    note: str | None
    reviewer: str | None
    created_at: datetime


class ReviewRepository(Protocol):
    """Quality reviews of generations, and their means by generation, cache key and arm."""

    async def add_review(self, review: Review) -> None: ...

    async def generation_score(self, generation_id: str) -> ReviewScore | None:
        """The mean and count of a generation's reviews (None when it has none)."""
        ...

    async def key_scores(self, cache_keys: Sequence[str]) -> dict[str, ReviewScore]:
        """The mean and count of the reviews of each key's generations (keys without reviews left out)."""
        ...

    async def arm_scores(self, node_id: str) -> dict[str | None, ReviewScore]:
        """A node's reviews by arm (None: generations outside any arm)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredGraph:
    id: str
    version: int
    title: str
    body: dict[str, Any]
    author: str | None
    created_at: datetime


class GraphRepository(Protocol):
    """Scene graphs; every save is a new version (the newest is current); delete hides every version."""

    async def save_graph(
        self, graph_id: str, *, title: str, body: dict[str, Any], author: str | None, at: datetime
    ) -> int:
        """Store a new version and return its number."""
        ...

    async def get_graph(self, graph_id: str, version: int | None = None) -> StoredGraph | None: ...

    async def list_graphs(self) -> list[StoredGraph]:
        """The current version of every graph that is not deleted."""
        ...

    async def delete_graph(self, graph_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class NodeVersion:
    node_id: str
    version: int
    config: dict[str, Any]
    author: str | None
    note: str | None
    created_at: datetime


class NodeConfigRepository(Protocol):
    """Node configs with their history (every save is a new version)."""

    async def save_node(
        self, node_id: str, *, config: dict[str, Any], author: str | None, note: str | None, at: datetime
    ) -> int:
        """Store `config` as the node's next version (its `version` field set to that number)."""
        ...

    async def node_version(self, node_id: str, version: int | None = None) -> NodeVersion | None: ...

    async def node_versions(self, node_id: str) -> list[NodeVersion]:
        """Newest first."""
        ...


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeyRepository(Protocol):
    """API keys, stored hashed (the key itself is shown once, at creation)."""

    async def add_key(self, key: ApiKey, *, key_hash: str) -> None: ...

    async def key_by_hash(self, key_hash: str) -> ApiKey | None: ...

    async def list_keys(self) -> list[ApiKey]: ...

    async def revoke_key(self, key_id: str, *, at: datetime) -> bool: ...

    async def count_active_keys(self) -> int: ...
