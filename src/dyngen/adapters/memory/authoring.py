"""`MemoryGraphRepository`, `MemoryNodeConfigRepository`, `MemoryApiKeyRepository` and
`MemoryReviewRepository`: what authors and operators store, in a `MemoryDatabase`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dyngen.adapters.memory.database import DuplicateKeyError, MemoryDatabase, json_copy, utc, utc_now
from dyngen.domain.cache_keys import ReviewScore
from dyngen.ports import ApiKey, NodeVersion, Review, StoredGraph


class MemoryGraphRepository:
    """Scene graphs; every save is a new version; delete hides every version until the id is saved again."""

    def __init__(self, *, database: MemoryDatabase) -> None:
        self._db = database

    @staticmethod
    def _stored(row: dict[str, Any]) -> StoredGraph:
        return StoredGraph(
            id=row["id"],
            version=row["version"],
            title=row["title"],
            body=json_copy(row["body"]),
            author=row["author"],
            created_at=row["created_at"],
        )

    async def save_graph(
        self, graph_id: str, *, title: str, body: dict[str, Any], author: str | None, at: datetime
    ) -> int:
        versions = self._db.graphs.setdefault(graph_id, [])
        version = len(versions) + 1
        versions.append(
            {
                "id": graph_id,
                "version": version,
                "title": title,
                "body": json_copy(body),
                "author": author,
                "created_at": utc(at),
            }
        )
        for row in versions:  # saving a deleted graph's id starts it afresh; earlier versions stay history
            row["deleted"] = False
        return version

    async def get_graph(self, graph_id: str, version: int | None = None) -> StoredGraph | None:
        live = [row for row in self._db.graphs.get(graph_id, []) if not row["deleted"]]
        if version is not None:
            live = [row for row in live if row["version"] == version]
        return self._stored(live[-1]) if live else None

    async def list_graphs(self) -> list[StoredGraph]:
        return [
            self._stored(versions[-1])
            for graph_id, versions in sorted(self._db.graphs.items())
            if versions and not versions[-1]["deleted"]
        ]

    async def delete_graph(self, graph_id: str) -> bool:
        live = [row for row in self._db.graphs.get(graph_id, []) if not row["deleted"]]
        for row in live:
            row["deleted"] = True
        return bool(live)


class MemoryNodeConfigRepository:
    """Node configs with their history (every save is a new version)."""

    def __init__(self, *, database: MemoryDatabase) -> None:
        self._db = database

    @staticmethod
    def _version(row: dict[str, Any]) -> NodeVersion:
        return NodeVersion(
            node_id=row["node_id"],
            version=row["version"],
            config=json_copy(row["config"]),
            author=row["author"],
            note=row["note"],
            created_at=row["created_at"],
        )

    async def save_node(
        self, node_id: str, *, config: dict[str, Any], author: str | None, note: str | None, at: datetime
    ) -> int:
        versions = self._db.node_configs.setdefault(node_id, [])
        version = len(versions) + 1
        versions.append(
            {
                "node_id": node_id,
                "version": version,
                "config": json_copy({**config, "id": node_id, "version": version}),
                "author": author,
                "note": note,
                "created_at": utc(at),
            }
        )
        return version

    async def node_version(self, node_id: str, version: int | None = None) -> NodeVersion | None:
        versions = self._db.node_configs.get(node_id, [])
        if version is not None:
            versions = [row for row in versions if row["version"] == version]
        return self._version(versions[-1]) if versions else None

    async def node_versions(self, node_id: str) -> list[NodeVersion]:
        return [self._version(row) for row in reversed(self._db.node_configs.get(node_id, []))]


class MemoryApiKeyRepository:
    """API keys by id, found by the hash of the key (the key itself is never stored)."""

    def __init__(self, *, database: MemoryDatabase) -> None:
        self._db = database

    @staticmethod
    def _key(row: dict[str, Any]) -> ApiKey:
        return ApiKey(
            id=row["id"],
            name=row["name"],
            scope=row["scope"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )

    async def add_key(self, key: ApiKey, *, key_hash: str) -> None:
        if key.id in self._db.api_keys:
            raise DuplicateKeyError("api_keys", key.id)
        if any(row["key_hash"] == key_hash for row in self._db.api_keys.values()):
            raise DuplicateKeyError("api_keys.key_hash", "<a key hash>")
        self._db.api_keys[key.id] = {
            "id": key.id,
            "name": key.name,
            "scope": key.scope,
            "key_hash": key_hash,
            "created_at": utc(key.created_at),
            "revoked_at": utc(key.revoked_at),
        }

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, revoked or not (the caller decides what a revoked key may do)."""
        found = next((row for row in self._db.api_keys.values() if row["key_hash"] == key_hash), None)
        return self._key(found) if found is not None else None

    async def list_keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        return [self._key(row) for row in sorted(self._db.api_keys.values(), key=lambda r: (r["created_at"], r["id"]))]

    async def revoke_key(self, key_id: str, *, at: datetime) -> bool:
        """Revoke an active key; False when no active key has this id (unknown or already revoked)."""
        row = self._db.api_keys.get(key_id)
        if row is None or row["revoked_at"] is not None:
            return False
        row["revoked_at"] = utc_now(at)
        return True

    async def count_active_keys(self) -> int:
        return sum(1 for row in self._db.api_keys.values() if row["revoked_at"] is None)


def _score(scores: Sequence[int]) -> ReviewScore:
    return ReviewScore(mean=round(sum(scores) / len(scores), 4), count=len(scores))


class MemoryReviewRepository:
    """Stores `Review`s of the generations of the same `MemoryDatabase`, and their means."""

    def __init__(self, *, database: MemoryDatabase) -> None:
        self._db = database

    async def add_review(self, review: Review) -> None:
        if review.id in self._db.reviews:
            raise DuplicateKeyError("reviews", review.id)
        if review.generation_id not in self._db.generations:
            raise KeyError(f"no generation {review.generation_id!r} to review (foreign key)")
        self._db.reviews[review.id] = {
            "id": review.id,
            "generation_id": review.generation_id,
            "node_id": review.node_id,
            "cache_key": review.cache_key,
            "arm": review.arm,
            "score": review.score,
            "note": review.note,
            "reviewer": review.reviewer,
            "created_at": utc(review.created_at),
        }

    def _grouped(self, by: str, keep: Any) -> dict[Any, ReviewScore]:
        groups: dict[Any, list[int]] = defaultdict(list)
        for row in self._db.reviews.values():
            if keep(row):
                groups[row[by]].append(row["score"])
        return {group: _score(scores) for group, scores in groups.items()}

    async def generation_score(self, generation_id: str) -> ReviewScore | None:
        return self._grouped("generation_id", lambda row: row["generation_id"] == generation_id).get(generation_id)

    async def key_scores(self, cache_keys: Sequence[str]) -> dict[str, ReviewScore]:
        wanted = set(cache_keys)
        return self._grouped("cache_key", lambda row: row["cache_key"] in wanted)

    async def arm_scores(self, node_id: str) -> dict[str | None, ReviewScore]:
        return self._grouped("arm", lambda row: row["node_id"] == node_id)
