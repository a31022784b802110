"""The seams between the core (domain, services) and the outside world (adapters).

Each port is a `typing.Protocol`; adapters are named technology + role (`MemoryCacheTier`,
`SqlAlchemyGenerationRepository`). Only `bootstrap.build()` picks which adapter fills which port.

Split by concept: `providers` (generators and their breaker), `storage` (cache tiers, single flight, object
and artifact stores), `records` (generations, reviews, graphs, node versions, keys), `work` (jobs and
warm-up runs), `limits` (budgets and rate limits), `runtime` (clock and metrics). Import from here.
"""

from __future__ import annotations

from dyngen.ports.limits import (
    BudgetLedger as BudgetLedger,
)
from dyngen.ports.limits import (
    BudgetRefusal as BudgetRefusal,
)
from dyngen.ports.limits import (
    RateDecision as RateDecision,
)
from dyngen.ports.limits import (
    RateLimiter as RateLimiter,
)
from dyngen.ports.limits import (
    Reservation as Reservation,
)
from dyngen.ports.limits import (
    ScopeSpend as ScopeSpend,
)
from dyngen.ports.limits import (
    SpendBucket as SpendBucket,
)
from dyngen.ports.providers import (
    ArtifactBlob as ArtifactBlob,
)
from dyngen.ports.providers import (
    CircuitBreaker as CircuitBreaker,
)
from dyngen.ports.providers import (
    Cooldown as Cooldown,
)
from dyngen.ports.providers import (
    Provider as Provider,
)
from dyngen.ports.providers import (
    ProviderCall as ProviderCall,
)
from dyngen.ports.providers import (
    ProviderInfo as ProviderInfo,
)
from dyngen.ports.providers import (
    ProviderResult as ProviderResult,
)
from dyngen.ports.providers import (
    RemoteJob as RemoteJob,
)
from dyngen.ports.providers import (
    RemoteJobProvider as RemoteJobProvider,
)
from dyngen.ports.records import (
    ApiKey as ApiKey,
)
from dyngen.ports.records import (
    ApiKeyRepository as ApiKeyRepository,
)
from dyngen.ports.records import (
    GenerationFilter as GenerationFilter,
)
from dyngen.ports.records import (
    GenerationRepository as GenerationRepository,
)
from dyngen.ports.records import (
    GraphRepository as GraphRepository,
)
from dyngen.ports.records import (
    NodeConfigRepository as NodeConfigRepository,
)
from dyngen.ports.records import (
    NodeVersion as NodeVersion,
)
from dyngen.ports.records import (
    RecordOutbox as RecordOutbox,
)
from dyngen.ports.records import (
    Review as Review,
)
from dyngen.ports.records import (
    ReviewRepository as ReviewRepository,
)
from dyngen.ports.records import (
    StoredGraph as StoredGraph,
)
from dyngen.ports.retention import (
    ExpiredGeneration as ExpiredGeneration,
)
from dyngen.ports.retention import (
    RemovedRecords as RemovedRecords,
)
from dyngen.ports.retention import (
    RetentionRepository as RetentionRepository,
)
from dyngen.ports.runtime import (
    Clock as Clock,
)
from dyngen.ports.runtime import (
    Metrics as Metrics,
)
from dyngen.ports.storage import (
    ArtifactStore as ArtifactStore,
)
from dyngen.ports.storage import (
    CacheTier as CacheTier,
)
from dyngen.ports.storage import (
    InvalidationBus as InvalidationBus,
)
from dyngen.ports.storage import (
    ObjectStore as ObjectStore,
)
from dyngen.ports.storage import (
    SingleFlight as SingleFlight,
)
from dyngen.ports.work import (
    JobEvent as JobEvent,
)
from dyngen.ports.work import (
    JobNotifier as JobNotifier,
)
from dyngen.ports.work import (
    JobQueue as JobQueue,
)
from dyngen.ports.work import (
    JobRepository as JobRepository,
)
from dyngen.ports.work import (
    QueueStats as QueueStats,
)
from dyngen.ports.work import (
    WarmupRepository as WarmupRepository,
)
