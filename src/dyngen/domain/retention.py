"""Retention: how long generation records, their artifacts and events are kept, and what keeps them.

A finished generation (complete or failed) is kept for its strategy's window, a failed one for at most the
failed window; after that it is removed with its artifacts and events, unless something still refers to
it: a cache entry in any tier, the newest content of its key while the key's cache may still hold it,
a scene graph or node config naming one of its artifacts, or a review. Queued and running jobs are
never removed. An artifact's bytes are removed only when no remaining artifact record names them
(artifacts are content-addressed: several records may share one object).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Generation and artifact ids are `uuid4().hex`: any such token in a cache entry, a scene graph or a node
# config counts as a reference (a token that is not an id only keeps a little more).
ID_TOKEN = re.compile(rb"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def referenced_tokens(raw: bytes) -> set[str]:
    """Every id-shaped token in `raw` (a cache entry, a graph body, a node config, as bytes)."""
    return {match.decode() for match in ID_TOKEN.findall(raw)}


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of record is kept, in seconds (None: kept for ever).

    Attributes:
        records_s: Finished generations, by strategy (`once`, `per_playthrough`, `per_player`, `always`);
            a strategy not listed is kept for ever.
        failed_s: Failed generations, whatever their strategy (the shorter of this and the strategy's).
        events_s: Events of finished jobs and warm-up runs.
        warmups_s: Finished warm-up runs (with their items and events).
        batch: Records examined per database round trip.
        object_grace_s: Seconds between removing records and deleting the objects they alone named, after
            which each object is checked again: a generation that stored the same content (artifacts are
            content-addressed) just before may not have written its record yet.
    """

    records_s: Mapping[str, float | None] = field(default_factory=dict)
    failed_s: float | None = None
    events_s: float | None = None
    warmups_s: float | None = None
    batch: int = 500
    object_grace_s: float = 0.0

    def record_cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Per strategy: records created before this time are past their window."""
        return {strategy: now - timedelta(seconds=s) for strategy, s in self.records_s.items() if s is not None}

    def failed_cutoff(self, now: datetime) -> datetime | None:
        return None if self.failed_s is None else now - timedelta(seconds=self.failed_s)

    def events_cutoff(self, now: datetime) -> datetime | None:
        return None if self.events_s is None else now - timedelta(seconds=self.events_s)

    def warmups_cutoff(self, now: datetime) -> datetime | None:
        return None if self.warmups_s is None else now - timedelta(seconds=self.warmups_s)


def may_be_cached(created_at: datetime, *, ttl_s: float | None, now: datetime) -> bool:
    """Whether content made at `created_at` may still be in a cache whose entries live `ttl_s` (None: for
    ever). The newest content of a key is kept while this holds, for the caches the sweep cannot read
    (another process's memory tier)."""
    return ttl_s is None or created_at > now - timedelta(seconds=ttl_s)
