"""What a generation produced, as served, cached and shared between the callers of a single flight."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dyngen.domain.cache_keys import ResolvedSeed, VariantPool
from dyngen.domain.contracts import GenerateContentRequest, GenerationStatus, SnakeModel
from dyngen.domain.errors import DyngenError
from dyngen.domain.responses import (
    CacheInfo,
    ElementCheck,
    ErrorInfo,
    FallbackInfo,
    GeneratedContentPayload,
    RatingInfo,
    StageInfo,
    VariantInfo,
)
from dyngen.ports import FlightCodec, Provider

CACHE_FORMAT = 1


class ArtifactRef(SnakeModel):
    """An artifact of an outcome, as the cache keeps it: URLs are made from it when answering. `bytes` is
    None only in the answer given while its video still renders (the video's size is not known yet)."""

    id: str
    role: str
    media_type: str
    bytes: int | None


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
    artifacts: list[ArtifactRef] | None = None
    fallback: FallbackInfo | None = None
    error: ErrorInfo | None = None
    elements: list[ElementCheck] | None = None  # how each required and avoided element was verified
    stages: list[StageInfo] | None = None  # a pipeline's script and render stages


class CacheEntry(SnakeModel):
    """A cached outcome, the config fingerprint it was made under and when (hybrid nodes refresh entries
    older than their `refreshAfterS`; an entry without a time counts as old)."""

    format: int
    fingerprint: str
    outcome: Outcome
    made_at: datetime | None = None


class FlightResult(SnakeModel):
    """What a single flight hands to a caller in another process, as JSON bytes (`FLIGHT_CODEC`): the
    outcome, and the tier it was read from when the flight found it cached."""

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
        pool: The node's variant pool (every variant's key and seed), when it has one: the variant in
            `key` is the seed's choice without reviews; serving may pick another by review scores.
        arm: The A/B arm the request runs in (its overrides are already merged into `request`).
        refused: Why the request cannot generate although its node is valid (its rules made its config
            invalid for this player): it is served as the node's fallback with this error, on the record.
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
    pool: VariantPool | None = None
    arm: str | None = None
    refused: DyngenError | None = None

    # Derived once, when prepared (read on every hit):
    # the single flight its generation runs in (foreground misses and hybrid refreshes share it, so a key
    # is generated once at a time), and the node id for telemetry ('-' for requests that name none).
    flight_key: str = field(init=False)
    node: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flight_key", f"{self.key}#{self.fingerprint}")
        object.__setattr__(self, "node", self.request.node_id or "-")


@dataclass(frozen=True, slots=True)
class Hit:
    """Content served from a cache tier: its outcome as stored, the tier, the entry's bytes (what a hit's
    rendered answer is remembered by), when it was made, and whether it is served stale (a hybrid node's
    content older than its `refreshAfterS`, or an always-fresh node's over its rate limit)."""

    outcome: Outcome
    tier: str
    raw: bytes
    made_at: datetime | None = None
    stale: bool = False


@dataclass(frozen=True, slots=True)
class Made:
    """Content made for this request, or by the single flight it joined (`cache` says which)."""

    outcome: Outcome
    cache: CacheInfo


Served = Hit | Made


# What a single flight makes: content found in the durable tier (a `Hit`), or the outcome of a run.
Flown = Hit | Outcome


def _encoded(flown: Flown) -> bytes:
    if isinstance(flown, Hit):
        return FlightResult(outcome=flown.outcome, tier=flown.tier).model_dump_json().encode()
    return FlightResult(outcome=flown).model_dump_json().encode()


def _decoded(data: bytes) -> Flown:
    flight = FlightResult.model_validate_json(data)
    return flight.outcome if flight.tier is None else Hit(flight.outcome, flight.tier, data)


# A flight's result crosses processes as `FlightResult` JSON; its own process's callers share the object.
FLIGHT_CODEC: FlightCodec[Flown] = FlightCodec(encode=_encoded, decode=_decoded)
