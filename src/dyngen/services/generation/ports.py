"""The ports of generation's use cases, as small frozen bundles that `bootstrap` builds once from `Services`.

- `RunPorts`: one provider run (`runs.py`, `attempts.py`, `stages.py`, `drift.py`): the attempt loop's
  budgets, the record, the artifacts, the cache fill, the seed-drift history, videos served while they
  render.
- `ServePorts`: serving a prepared request (`serving.py`, `freshness.py`): the cache tiers and their
  memos, the single flight, the answer's signed URLs and metrics, review scores, the always-fresh limits.
- `GenerationPorts`: the front door (`front_door.py`): the body memos, preparing, the rate limits, a flat
  request's node resolution, and jobs for `Prefer: respond-async`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from dyngen.domain.contracts import GenerateContentRequest
from dyngen.ports import (
    ArtifactStore,
    BudgetLedger,
    BudgetLimitRepository,
    Clock,
    ElementJudge,
    GenerationRepository,
    JobRepository,
    Metrics,
    RateLimiter,
    RecordOutbox,
    ReviewRepository,
    SingleFlight,
)
from dyngen.services.generation.request import Preparer
from dyngen.services.machinery.background import BackgroundTasks
from dyngen.services.machinery.container import Options
from dyngen.services.machinery.layered_cache import LayeredCache
from dyngen.services.machinery.live_media import LiveArtifacts
from dyngen.services.machinery.media import MediaLinks
from dyngen.services.machinery.memo import GenerationMemo, LruMemo
from dyngen.services.machinery.scores import ScoreBoard

if TYPE_CHECKING:  # jobs read serving's cache: a run-time import would go round
    from dyngen.services.jobs.lifecycle import JobPorts


class Referenced(Protocol):
    """A flat request resolved by its `node_id` to a stored node, else unchanged
    (`authoring.runtime_graphs.referenced`)."""

    async def __call__(self, *, request: GenerateContentRequest) -> GenerateContentRequest: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPorts:
    """What one provider run takes.

    Attributes:
        clock: Deadlines, backoff, record times.
        metrics: Generation and provider-call counts, seed drift.
        cache: Where a success (and a pipeline's script) is cached.
        artifacts: Where a run's artifacts are stored (and scene images read).
        repository: Where runs are recorded (and scene images' artifact records and drift history read).
        jobs: Where a job's own record is finished.
        outbox: Records the database could not take in time (None: logged and lost).
        tasks: Record writes, scene-image and drift lookups left running past their wait.
        judge: The model asked about elements the lexicon and report leave open (None: no judge).
        ledger: Where attempts' costs are reserved and settled (None: spend is not counted).
        limits: Budget limits set in the editor, over `options.budgets`.
        hashes: Each cache key's recent content hashes (the seed-drift history, `GenerationMemo.hashes`).
        live: Videos served while they render (None: every run answers once its artifacts are whole).
        options: The deadlines, retry backoff, record timeout and budgets a run reads.
    """

    clock: Clock
    metrics: Metrics
    cache: LayeredCache
    artifacts: ArtifactStore
    repository: GenerationRepository
    jobs: JobRepository
    outbox: RecordOutbox | None
    tasks: BackgroundTasks
    judge: ElementJudge | None
    ledger: BudgetLedger | None
    limits: BudgetLimitRepository | None
    hashes: LruMemo[str, tuple[Any, ...]]
    live: LiveArtifacts | None
    options: Options


@dataclass(frozen=True, slots=True, kw_only=True)
class ServePorts:
    """What serving a prepared request takes.

    Attributes:
        runs: A miss's provider run.
        clock: Timing the answer, signing URLs, hybrid staleness and refresh pacing.
        metrics: Cache requests, single-flight waiters.
        cache: The cache tiers.
        flights: One generation per key at a time.
        memo: Decoded cache entries and a hit's rendered answer.
        media: Signed artifact URLs in answers.
        entropy: Fresh (`timestamp`) seeds.
        scores: Review scores (variant pools).
        reviews: Where review scores come from.
        rate_limiter: Always-fresh nodes' per-node limit (None: nothing is limited).
        tasks: Hybrid refreshes in the background, and their pacing.
        options: Default timeout, review policy, rate limits and cache TTLs.
    """

    runs: RunPorts
    clock: Clock
    metrics: Metrics
    cache: LayeredCache
    flights: SingleFlight
    memo: GenerationMemo
    media: MediaLinks
    entropy: random.Random
    scores: ScoreBoard
    reviews: ReviewRepository
    rate_limiter: RateLimiter | None
    tasks: BackgroundTasks
    options: Options


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationPorts:
    """What generation's front door takes.

    Attributes:
        serving: Serving a prepared request.
        preparer: Preparing a request (providers, templates, compiled rules, entropy, options).
        jobs: Where a `Prefer: respond-async` request is queued as a job.
        referenced: A flat request resolved by its `node_id` (a stored node), else unchanged.
        memo: The read bodies, body shapes and their prepared requests.
        clock: Timing the answer.
        rate_limiter: The API key's and the player's limits (None: nothing is limited).
        options: The rate limits.
    """

    serving: ServePorts
    preparer: Preparer
    jobs: JobPorts
    referenced: Referenced
    memo: GenerationMemo
    clock: Clock
    rate_limiter: RateLimiter | None
    options: Options
