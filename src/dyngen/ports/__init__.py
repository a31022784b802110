"""The seams between the core (domain, services) and the outside world (adapters).

Each port is a `typing.Protocol`; adapters are named technology + role (`MemoryCacheTier`,
`SqlAlchemyGenerationRepository`). Only `bootstrap.build()` picks which adapter fills which port.

Split by concept: `providers` (generators and their breaker), `storage` (cache tiers, single flight, object
and artifact stores), `records` (generations, reviews, graphs, node versions, keys), `work` (jobs and
warm-up runs), `limits` (budgets and rate limits), `runtime` (clock and metrics), `errors` (the typed
failures a repository raises). Import from here: `__all__` is the public seam.
"""

from __future__ import annotations

from dyngen.ports.errors import DuplicateIdempotencyKey, RepositoryUnavailable
from dyngen.ports.limits import (
    BudgetLedger,
    BudgetLimitChange,
    BudgetLimitRepository,
    BudgetRefusal,
    RateDecision,
    RateLimiter,
    Reservation,
    ScopeSpend,
    SpendBucket,
)
from dyngen.ports.providers import (
    ArtifactBlob,
    CircuitBreaker,
    Cooldown,
    ElementJudge,
    MediaStream,
    Provider,
    ProviderCall,
    ProviderInfo,
    ProviderResult,
    RemoteJob,
    RemoteJobProvider,
)
from dyngen.ports.records import (
    HISTORY_PER_KEY,
    ApiKey,
    ApiKeyRepository,
    ContentHash,
    GenerationFilter,
    GenerationRepository,
    GraphRepository,
    NodeConfigRepository,
    NodeVersion,
    RecordOutbox,
    Review,
    ReviewRepository,
    StoredGraph,
)
from dyngen.ports.retention import ExpiredGeneration, RemovedRecords, RetentionRepository
from dyngen.ports.runtime import Clock, Metrics
from dyngen.ports.storage import (
    BYTES,
    ArtifactStore,
    CacheTier,
    FlightCodec,
    InvalidationBus,
    ObjectStore,
    SingleFlight,
)
from dyngen.ports.work import (
    JobEvent,
    JobNotifier,
    JobQueue,
    JobRepository,
    NewJobEvent,
    QueueStats,
    WarmupRepository,
)

__all__ = [
    "BYTES",
    "HISTORY_PER_KEY",
    "ApiKey",
    "ApiKeyRepository",
    "ArtifactBlob",
    "ArtifactStore",
    "BudgetLedger",
    "BudgetLimitChange",
    "BudgetLimitRepository",
    "BudgetRefusal",
    "CacheTier",
    "CircuitBreaker",
    "Clock",
    "ContentHash",
    "Cooldown",
    "DuplicateIdempotencyKey",
    "ElementJudge",
    "ExpiredGeneration",
    "FlightCodec",
    "GenerationFilter",
    "GenerationRepository",
    "GraphRepository",
    "InvalidationBus",
    "JobEvent",
    "JobNotifier",
    "JobQueue",
    "JobRepository",
    "MediaStream",
    "Metrics",
    "NewJobEvent",
    "NodeConfigRepository",
    "NodeVersion",
    "ObjectStore",
    "Provider",
    "ProviderCall",
    "ProviderInfo",
    "ProviderResult",
    "QueueStats",
    "RateDecision",
    "RateLimiter",
    "RecordOutbox",
    "RemoteJob",
    "RemoteJobProvider",
    "RemovedRecords",
    "RepositoryUnavailable",
    "Reservation",
    "RetentionRepository",
    "Review",
    "ReviewRepository",
    "ScopeSpend",
    "SingleFlight",
    "SpendBucket",
    "StoredGraph",
    "WarmupRepository",
]
