"""What a generation produced, as served, cached and shared between the callers of a single flight."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from dyngen.domain.cache_keys import ResolvedSeed
from dyngen.domain.contracts import (
    ErrorInfo,
    FallbackInfo,
    GenerateContentRequest,
    GeneratedContentPayload,
    GenerationStatus,
    RatingInfo,
    SnakeModel,
    VariantInfo,
)
from dyngen.ports import Provider

CACHE_FORMAT = 1


def new_id() -> str:
    return uuid.uuid4().hex


class Outcome(SnakeModel):
    """What one generation run produced, shared by every caller of its single flight.

    It is also the cached entry (as JSON), so a hit needs no database read.
    """

    generation_id: str | None
    status: GenerationStatus
    deterministic: bool
    seed: int | None
    provider: str | None
    tokens: int = 0
    content: GeneratedContentPayload | None = None
    fallback: FallbackInfo | None = None
    error: ErrorInfo | None = None


class CacheEntry(SnakeModel):
    """A cached outcome and the config fingerprint it was made under."""

    format: int
    fingerprint: str
    outcome: Outcome


class FlightResult(SnakeModel):
    """What a single flight hands to every caller (as JSON bytes, so it can cross processes)."""

    outcome: Outcome
    tier: str | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request made ready to serve: validated, its provider picked, its key, seed and fingerprint known.

    All of it is a pure function of the request (and of the deployment's settings), so the service
    remembers it per request body.

    Attributes:
        seed: The resolved seed, or None when each call draws a fresh one (timestamp seeds).
        cacheable: False for strategy `always` and for forced failures.
        ttl_s: Cache entry lifetime for the strategy (None: no expiry).
    """

    request: GenerateContentRequest
    provider: Provider
    key: str
    fingerprint: str
    seed: ResolvedSeed | None
    cacheable: bool
    ttl_s: float | None
    variant: VariantInfo | None = None
    rating: RatingInfo | None = None

    @property
    def node(self) -> str:
        """The node id for telemetry ('-' for requests that name none)."""
        return self.request.node_id or "-"
