"""`MemoryDatabase`: the tables the memory repositories share, as one SQL database would be shared.

Every operation of a memory repository runs without awaiting in between (or under `lock` where it must
await), so it is one transaction: it applies whole or not at all, and no other task sees half of it.
Values are stored as copies and handed out as copies, as a database would, so a caller that changes a
record it got back changes nothing stored.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")


class DuplicateKeyError(Exception):
    """A write broke a uniqueness rule (a primary key, an idempotency key, a key hash): nothing was written."""

    def __init__(self, table: str, key: object) -> None:
        super().__init__(f"duplicate key in {table}: unique constraint violated by {key!r}")
        self.table = table
        self.key = key


def utc(value: datetime | None) -> datetime | None:
    """A time as the SQL adapters return it: in UTC, a naive time taken as UTC."""
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def utc_now(value: datetime) -> datetime:
    converted = utc(value)
    assert converted is not None
    return converted


def json_copy(value: T) -> T:
    """A JSON column's round trip: a deep copy with JSON's types (tuples become lists, keys strings)."""
    copied: T = json.loads(json.dumps(value))
    return copied


@dataclass
class MemoryDatabase:
    """The rows of every memory repository built on it (one per process, like one database file).

    Rows are dicts keyed by column name, as the SQL tables (`dyngen.adapters.db.tables`) hold them.
    """

    generations: dict[str, dict[str, Any]] = field(default_factory=dict)
    # generation id -> its artifacts, in insertion order (artifact ids are unique across generations)
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    artifact_owner: dict[str, str] = field(default_factory=dict)
    idempotency_keys: dict[str, str] = field(default_factory=dict)
    generation_events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    api_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    graphs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    node_configs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reviews: dict[str, dict[str, Any]] = field(default_factory=dict)
    warmups: dict[str, dict[str, Any]] = field(default_factory=dict)
    warmup_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warmup_events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    budget_scopes: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    budget_reservations: dict[str, dict[str, Any]] = field(default_factory=dict)
    budget_spend: dict[tuple[str, datetime, str, str], int] = field(default_factory=dict)
    budget_limits: dict[str, int | None] = field(default_factory=dict)
    budget_limit_history: list[Any] = field(default_factory=list)  # `BudgetLimitChange`s, oldest first
    # Event ids grow across every stream, like an autoincrement column.
    event_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # For the few operations that must await inside their transaction.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
