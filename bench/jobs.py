"""Job overhead: jobs per second and enqueue-to-complete latency of async generation jobs whose provider
costs nothing, on the embedded runner and on arq workers, against a bare arq no-op job (issue 4's `make
bench adds job overhead`; goal: arq jobs at least 0.5x the bare no-op rate).

What is measured. Every job is a real `Prefer: respond-async` job, submitted through the front door
(`front_door.generate` with `prefer="respond-async"`) with a `strategy: always` request (never cacheable, so
every job claims its record, runs the provider, writes its outcome and its events), each for a playthrough of
its own. The provider is `ZeroProvider`, which answers at once with the smallest payload the service accepts,
so what is left is the job machinery: records, leases, events, notifications, the queue. Jobs are submitted by
`SUBMITTERS` concurrent callers (as many clients would), all `JOBS` of a batch at once, and the clock runs
until the last one completes.

- embedded: `build(Settings(data_dir=tmp), providers={"builtin": ZeroProvider()})` on SQLite and
  `services.start()`: the in-process runner of `dyngen serve` (`job_concurrency` jobs at once) runs the
  jobs in the bench's own process, beside the submitters, as it runs beside the API.
- arq: services built with `redis_url` and a prefix of the run's own (and a PostgreSQL database created
  for the run and dropped after; SQLite in the data dir when there is no PostgreSQL) submit from this
  process through `ArqJobQueue`; `WORKERS` worker processes run them. Each is `dyngen worker` itself
  (its CLI command, `python -m bench.jobs dyngen-worker`), with only `bootstrap.build` handed the zero
  provider, in the same environment a deployment gives it (DYNGEN_DATA_DIR, DYNGEN_DATABASE_URL,
  DYNGEN_REDIS_URL, DYNGEN_REDIS_PREFIX, the default log level, Prometheus multiprocess files).
- baseline: a bare arq no-op job on the same Redis, in the same run: `WORKERS` processes of a plain arq
  `Worker` (`python -m bench.jobs bare-worker`) whose only function records the time and returns, and
  `JOBS` jobs enqueued with arq's `create_pool` by the same number of concurrent callers.

Why the baseline is fair: it is the least any arq job costs on this machine, this Redis and this
Python, and it is configured exactly like dyngen's worker (`arq_worker`): the same number of processes,
`max_jobs`, poll delay, queue read limit, JSON serializer, `keep_result=0`, `max_tries`, job timeout,
job id as the single argument, INFO logging (arq's two lines per job), the event loop (uvloop, as `dyngen
worker` runs on); so the ratio of the rates is what
dyngen adds per job, and nothing else. The arq figures are measured in ABBA order (bare, dyngen, dyngen,
bare, each a batch of `JOBS`; all workers started and warmed first), so a drift in the machine's speed
falls on both alike.

Figures, from timestamps the jobs themselves leave (not from the polling that notices the end):
enqueue-to-complete runs from the job's `queued_at` (taken when `submit_job` starts) to its `completed`
event (written in the final record's transaction, so a client polling or streaming the job sees both at
once; its time is taken just before that write goes to the group-commit writer, so it precedes the commit
by that batch's wait, milliseconds, tens on a loaded machine: the last job of a batch ends that much later
than its stamp says, against a span of seconds); for the baseline, from arq's enqueue time to the end of
the no-op function. The rate is jobs / (last completion - first enqueue) per batch, batches pooled. The
embedded rate is printed against the same baseline for reference (no goal: it runs on one process and
SQLite). Each job must end `complete` with the zero provider's content; anything else breaks the
benchmark. Redis missing prints SKIP for the arq rows (the embedded rows then have no baseline).

Printed beside the figures, to tell where the time goes: how fast the submitters got the batch in; CPU
milliseconds per job in this process and in the worker processes (/proc); each job's median time queued
(queued_at -> started_at), running (started_at -> completed_at: claim, events, provider, outcome) and
ending (completed_at -> the `completed` event's stamp); and how many jobs were running on
average out of the runners' slots: full slots mean the runners are the limit (CPU, database), empty
slots while jobs wait mean the queue does not hand them jobs fast enough. (arq reads the queue every
`poll_delay`, 0.5 s by default, and starts at most `max_jobs` jobs per read once its slots fill: a no-op
ends before they fill, a job that lasts longer than starting `max_jobs` jobs does not.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import BenchError, Row, percentile
from bench.cache_tiers import REDIS_URL, delete_redis_prefix, new_redis_prefix, redis_missing, run_async
from bench.stampede import POSTGRES_ASYNC_BASE, _admin_sql

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from tests.support.servers import Process

    from dyngen.config import Settings
    from dyngen.domain.contracts import GenerateContentRequest
    from dyngen.ports import Provider, ProviderCall, ProviderResult
    from dyngen.services.machinery.container import Services

JOBS = 500  # per batch
WARMUP_JOBS = 40  # per contender, before any batch: first-call costs (imports, pool connections)
SUBMITTERS = 16  # concurrent callers submitting a batch
WORKERS = 2  # worker processes, for dyngen and for the baseline alike
MAX_JOBS = 10  # `worker_max_jobs` (dyngen's default), and the baseline's `max_jobs`
MAX_TRIES = 5  # what `dyngen worker` gives arq: job_max_attempts (3) + 2
JOB_TIMEOUT_S = 600.0  # `job_timeout_s` default
BATCH_DEADLINE_S = 40.0
START_DEADLINE_S = 60.0
POLL_S = 0.05
GOAL_RATIO = 0.8  # issue 18 (was 0.5)
REPO = Path(__file__).resolve().parent.parent
READY_LINE = "Starting worker for"  # arq logs it at INFO once its Redis pool is up


# --- the zero-latency provider ----------------------------------------------------------------------------


class ZeroProvider:
    """A provider that costs nothing: it answers at once with a one-line dialogue and no artifacts (the
    smallest payload the service accepts: non-empty text, no constraint to break)."""

    def __init__(self) -> None:
        from dyngen.domain.contracts import GenerationType, PayloadType
        from dyngen.domain.responses import GeneratedContentPayload
        from dyngen.ports import ProviderInfo, ProviderResult

        self.info = ProviderInfo(
            name="zero",
            generation_types=frozenset(GenerationType),
            media=frozenset({"application/json"}),
            deterministic=True,
        )
        self._result = ProviderResult(
            payload=GeneratedContentPayload(type=PayloadType.DIALOGUE, dialogue=["The phone rings."])
        )
        self.calls = 0

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        return 0.0

    async def generate(self, call: ProviderCall) -> ProviderResult:
        self.calls += 1
        return self._result


def zero_providers() -> dict[str, Provider]:
    """The registry `build` gets: the zero provider under the default providers' names (text, and video,
    which the default `providers_by_type` names)."""
    zero = ZeroProvider()
    return {"builtin": zero, "builtin_video": zero}


def job_body(node: str, playthrough: str) -> bytes:
    """A valid `always` transition request for one playthrough (no required elements to mention)."""
    return json.dumps(
        {
            "type": "transition",
            "node_id": node,
            "from_scene": {"id": "cafe", "mood": "romantic", "location": "corner_cafe"},
            "to_scene": {"id": "roof", "mood": "intense", "location": "city_rooftops"},
            "style": {"moodFrom": "romantic", "moodTo": "intense", "pacing": "medium"},
            "duration": {"min": 15, "max": 45, "target": 30},
            "constraints": {"rating": "PG-13"},
            "strategy": "always",
            "fallback": {"mode": "placeholder", "timeoutMs": 10_000},
            "player_context": {"playthroughId": playthrough},
        }
    ).encode()


# --- figures ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cost:
    """Wall seconds of the submission; CPU seconds of this process and of the worker processes."""

    submit_s: float
    client_cpu_s: float
    worker_cpu_s: float


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes used so far (Linux /proc; NaN elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return math.nan
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@contextlib.contextmanager
def costing(pids: Sequence[int]) -> Iterator[list[float]]:
    """Measures a batch: the yielded list receives (client CPU s, worker CPU s) when the block ends."""
    out: list[float] = []
    client, workers = time.process_time(), cpu_seconds(pids)
    yield out
    out.extend([time.process_time() - client, cpu_seconds(pids) - workers])


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch's per-job timestamps (epoch seconds): enqueued, completed; and, for dyngen jobs, the
    split of each job's time: waiting in the queue (queued -> started), running (started -> the
    record's completed_at) and ending (completed_at -> the `completed` event). For the evidence: the
    seconds the submitters took, and the CPU seconds the batch cost this process (submitting, and for
    the embedded runner running too) and the worker processes."""

    enqueued: list[float]
    completed: list[float]
    cost: Cost
    waited: tuple[float, ...] = ()
    ran: tuple[float, ...] = ()
    ended: tuple[float, ...] = ()

    @property
    def span(self) -> float:
        return max(self.completed) - min(self.enqueued)


@dataclass(frozen=True, slots=True)
class Figures:
    """A contender's batches pooled: jobs per second and enqueue-to-complete percentiles (seconds).
    `slots`: how many jobs its runners may run at once (for the occupancy printed beside the figures)."""

    label: str
    batches: Sequence[Batch]
    slots: int = 0

    @property
    def jobs(self) -> int:
        return sum(len(b.enqueued) for b in self.batches)

    @property
    def rate(self) -> float:
        return self.jobs / sum(b.span for b in self.batches)

    def _pooled(self, name: str) -> list[float]:
        if name == "latency":
            return sorted(c - e for b in self.batches for e, c in zip(b.enqueued, b.completed, strict=True))
        return sorted(x for b in self.batches for x in getattr(b, name))

    def p(self, q: float, name: str = "latency") -> float:
        return percentile(self._pooled(name), q)

    def line(self) -> str:
        rates = ", ".join(f"{len(b.enqueued) / b.span:.0f}" for b in self.batches)
        text = (
            f"  {self.label:<28} {self.jobs} jobs in {len(self.batches)} batch(es): {self.rate:7.1f} jobs/s"
            f" (per batch {rates}); enqueue->complete p50 {self.p(50) * 1000:6.0f} ms, p99 {self.p(99) * 1000:6.0f} ms"
        )
        jobs = self.jobs
        submit = sum(b.cost.submit_s for b in self.batches)
        client = sum(b.cost.client_cpu_s for b in self.batches) / jobs * 1000
        workers = sum(b.cost.worker_cpu_s for b in self.batches) / jobs * 1000
        text += (
            f"\n  {'':<28} submitted at {jobs / submit:.0f} jobs/s; CPU per job: {client:.2f} ms in this process"
            + (f", {workers:.2f} ms in the workers" if not math.isnan(workers) and workers > 0 else "")
        )
        if self.batches[0].waited:
            # A job holds a runner's slot from its claim (started_at) to its `completed` event.
            busy = sum(sum(b.ran) + sum(b.ended) for b in self.batches) / sum(b.span for b in self.batches)
            text += (
                f"\n  {'':<28} per job p50: queued {self.p(50, 'waited') * 1000:.1f} ms, running"
                f" {self.p(50, 'ran') * 1000:.1f} ms, record completed_at -> `completed` event"
                f" {self.p(50, 'ended') * 1000:.1f} ms; jobs running on average {busy:.1f} of {self.slots} slots"
            )
        return text


def _rows(figures: Figures, baseline: Figures | None, *, goal: bool) -> list[Row]:
    label = figures.label
    if baseline is None:
        return [
            Row("jobs", f"{label}: jobs/s", f"{figures.rate:.0f}/s", "no bare arq (no Redis)"),
            Row("jobs", f"{label}: enqueue->complete p50", f"{figures.p(50) * 1000:.0f} ms"),
            Row("jobs", f"{label}: enqueue->complete p99", f"{figures.p(99) * 1000:.0f} ms"),
        ]
    ratio = figures.rate / baseline.rate
    return [
        Row(
            "jobs",
            f"{label}: jobs/s",
            f"{figures.rate:.0f}/s",
            f"{baseline.rate:.0f}/s bare arq",
            f"{ratio:.2f}x",
            f">= {GOAL_RATIO}x" if goal else "",
            (ratio >= GOAL_RATIO) if goal else None,
        ),
        *(
            Row(
                "jobs",
                f"{label}: enqueue->complete p{q}",
                f"{figures.p(q) * 1000:.0f} ms",
                f"{baseline.p(q) * 1000:.0f} ms bare arq",
                f"{figures.p(q) / baseline.p(q):.2f}x",
            )
            for q in (50, 99)
        ),
    ]


def _skipped(labels: Sequence[str], reason: str) -> list[Row]:
    print(f"  SKIP {', '.join(labels)}: {reason}")
    return [Row("jobs", f"{label}: jobs/s", "SKIP", reason, "", f">= {GOAL_RATIO}x") for label in labels]


# --- dyngen jobs ------------------------------------------------------------------------------------------


async def submit_batch(services: Services, count: int, node: str) -> list[str]:
    """Submit `count` jobs for `node` through `SUBMITTERS` concurrent callers; returns their ids."""
    from dyngen.bootstrap_ports import generation_ports
    from dyngen.services.generation.front_door import GenerateCall, Queued, generate

    gate = asyncio.Semaphore(SUBMITTERS)

    async def one(index: int) -> str:
        async with gate:
            body = job_body(node, f"{node}-{index}")
            submitted = await generate(
                GenerateCall(body=body, prefer="respond-async"), ports=generation_ports(services)
            )
            assert isinstance(submitted, Queued)
        if not submitted.created:
            raise BenchError(f"job {node}-{index} joined {submitted.job.id} instead of being created")
        return submitted.job.id

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def ended_jobs(engine: AsyncEngine) -> int:
    """How many jobs of the database have ended (one cheap COUNT: polling must not load the system)."""
    from sqlalchemy import func, select

    from dyngen.adapters.db.tables import generations

    stmt = select(func.count()).select_from(generations).where(generations.c.status.in_(["complete", "failed"]))
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def wait_finished(engine: AsyncEngine, target: int, label: str) -> None:
    """Poll every `POLL_S` until `target` jobs of the database have ended; BenchError after the deadline.
    (The figures come from the jobs' own timestamps, so the polling interval does not blur them.)"""
    deadline = time.monotonic() + BATCH_DEADLINE_S
    while (done := await ended_jobs(engine)) < target:
        if time.monotonic() > deadline:
            raise BenchError(f"{label}: {target - done} jobs had not ended after {BATCH_DEADLINE_S:.0f} s")
        await asyncio.sleep(POLL_S)


async def batch_figures(
    services: Services, engine: AsyncEngine, node: str, ids: list[str], label: str, cost: Cost
) -> Batch:
    """The batch's timestamps from its records (the batch's own node id) and `completed` events;
    BenchError unless every job completed, by the zero provider."""
    from sqlalchemy import select

    from dyngen.adapters.db.repository import db_time
    from dyngen.adapters.db.tables import generation_events
    from dyngen.domain.contracts import GenerationStatus
    from dyngen.ports import GenerationFilter

    records = await services.repository.find(GenerationFilter(node_id=node, limit=len(ids) + 1))
    wrong = [r for r in records if r.status is not GenerationStatus.COMPLETE or r.provider != "zero"]
    if {r.id for r in records} != set(ids) or wrong:
        example = wrong[0] if wrong else None
        raise BenchError(
            f"{label}: {len(records)} records for {len(ids)} jobs, {len(wrong)} not complete by the zero provider"
            + (
                f", e.g. {example.status} {example.provider} {example.error_code} {example.error_message}"
                if example
                else ""
            )
        )
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(generation_events.c.generation_id, generation_events.c.created_at).where(
                    generation_events.c.generation_id.in_(ids), generation_events.c.type == "completed"
                )
            )
        ).all()
    completed_event: dict[str, datetime] = {}
    for job_id, at in rows:
        stamp = db_time(at)
        assert stamp is not None
        completed_event[job_id] = stamp
    if len(completed_event) != len(ids):
        raise BenchError(f"{label}: {len(completed_event)} `completed` events for {len(ids)} jobs")
    enqueued, completed, waited, ran, ended = [], [], [], [], []
    for r in records:
        assert r.queued_at is not None
        assert r.started_at is not None
        assert r.completed_at is not None
        event = completed_event[r.id]
        enqueued.append(r.queued_at.timestamp())
        completed.append(event.timestamp())
        waited.append((r.started_at - r.queued_at).total_seconds())
        ran.append((r.completed_at - r.started_at).total_seconds())
        ended.append((event - r.completed_at).total_seconds())
    return Batch(enqueued, completed, cost, tuple(waited), tuple(ran), tuple(ended))


async def dyngen_batch(
    services: Services,
    engine: AsyncEngine,
    count: int,
    label: str,
    *,
    seen: list[str] | None = None,
    workers: Sequence[int] = (),
) -> Batch:
    """Submit a batch (a node id of its own), wait for its end, return its figures; its job ids go into
    `seen`. `workers`: the processes whose CPU time the batch is charged with."""
    node = f"bench_jobs_{uuid.uuid4().hex[:8]}"
    ended_before = await ended_jobs(engine)
    with costing(workers) as cpu:
        began = time.perf_counter()
        ids = await submit_batch(services, count, node)
        submit_s = time.perf_counter() - began
        if seen is not None:
            seen.extend(ids)
        await wait_finished(engine, ended_before + len(ids), label)
    return await batch_figures(services, engine, node, ids, label, Cost(submit_s, *cpu))


@contextlib.asynccontextmanager
async def dyngen_services(settings: Settings, *, migrate: bool | None = None) -> AsyncIterator[Services]:
    """Services built as `dyngen serve` builds them, with the zero provider, started and closed after."""
    from dyngen.bootstrap import build

    services = await build(settings, migrate=migrate, providers=zero_providers())
    try:
        await services.start()
        yield services
    finally:
        await services.aclose()


async def embedded(workdir: Path) -> Figures:
    """`JOBS` jobs on the embedded default: SQLite, the in-process runner."""
    from dyngen.adapters.db.repository import create_engine
    from dyngen.config import Settings

    settings = Settings(data_dir=workdir / "embedded")
    label = "embedded (SQLite)"
    async with dyngen_services(settings) as services:
        engine = create_engine(settings.resolved_database_url)
        try:
            await dyngen_batch(services, engine, WARMUP_JOBS, f"{label} warm-up")
            batch = await dyngen_batch(services, engine, JOBS, label)
            return Figures(label, [batch], slots=settings.job_concurrency)
        finally:
            await engine.dispose()


# --- worker processes -------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    """What a subprocess needs to import `bench` (it runs from the repository root)."""
    paths = [str(REPO), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {"PYTHONPATH": os.pathsep.join(paths)}


@contextlib.asynccontextmanager
async def worker_processes(args: list[list[str]], env: dict[str, str], logs: list[Path]) -> AsyncIterator[list[int]]:
    """Start the processes side by side, wait until each logged `READY_LINE`; stop them all after."""
    from tests.support.servers import Process

    started: list[Process] = []
    try:
        for argv, log in zip(args, logs, strict=True):
            started.append(Process([sys.executable, "-m", "bench.jobs", *argv], env={**_env(), **env}, log=log))
        deadline = time.monotonic() + START_DEADLINE_S
        for proc in started:
            while READY_LINE not in proc.output():
                if not proc.alive() or time.monotonic() > deadline:
                    raise BenchError(f"{' '.join(proc.args[3:])} did not start:\n{proc.output()[-3000:]}")
                await asyncio.sleep(0.05)
        yield [proc.pid for proc in started]
    finally:
        for proc in started:
            proc.stop()


def _dyngen_worker() -> None:
    """`dyngen worker` (its CLI command, unchanged) with `bootstrap.build` handed the zero provider."""
    from unittest import mock

    import dyngen.entrypoints.worker as worker_module
    from dyngen.bootstrap import build
    from dyngen.entrypoints.cli import app

    async def build_with_zero_provider(
        settings: Settings, *, migrate: bool | None = None, providers: Any = None
    ) -> Services:
        return await build(settings, migrate=migrate, providers=zero_providers())

    with (
        mock.patch.object(worker_module, "build", build_with_zero_provider),
        contextlib.suppress(asyncio.CancelledError),  # SIGTERM: arq cancels its main task
    ):
        app(["worker"], prog_name="dyngen")


def _serialize(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _deserialize(data: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def _bare_worker(queue: str, stamps_file: str) -> None:
    """A plain arq worker configured as `arq_worker` configures dyngen's, with a no-op `run_job` that only
    notes (job id, arq's enqueue time, its own end time); written to `stamps_file` on SIGTERM."""
    import logging

    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stamps: list[tuple[str, float, float]] = []

    async def run_job(ctx: dict[Any, Any], *args: Any, **_kwargs: Any) -> None:
        stamps.append((str(args[0]), ctx["enqueue_time"].timestamp(), time.time()))

    async def main() -> None:
        worker = Worker(
            functions=[func(run_job, name="run_job", max_tries=MAX_TRIES)],
            queue_name=queue,
            redis_settings=RedisSettings.from_dsn(REDIS_URL),
            max_jobs=MAX_JOBS,
            job_timeout=JOB_TIMEOUT_S,
            keep_result=0,
            job_serializer=_serialize,
            job_deserializer=_deserialize,
            handle_signals=True,
        )
        try:
            await worker.async_run()
        except asyncio.CancelledError:
            pass
        finally:
            await worker.close()

    import uvloop  # the loop `dyngen worker` runs on (`entrypoints/interpreter.run`)

    uvloop.run(main())
    Path(stamps_file).write_text(json.dumps(stamps))


# --- the baseline: bare arq -------------------------------------------------------------------------------


class BareArq:
    """Enqueues no-op jobs on the bare workers' queue and reads their timestamps after they stopped."""

    def __init__(self, queue: str, prefix: str) -> None:
        self.queue = queue
        self.prefix = prefix
        self.batches: list[tuple[list[str], Cost]] = []
        self._pool: Any = None

    async def start(self) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self._pool = await create_pool(
            RedisSettings.from_dsn(REDIS_URL),
            job_serializer=_serialize,
            job_deserializer=_deserialize,
            default_queue_name=self.queue,
        )

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def batch(self, count: int, *, workers: Sequence[int] = ()) -> None:
        """Enqueue `count` jobs through `SUBMITTERS` concurrent callers, then wait until the queue is empty
        (a finished job leaves the queue in the same transaction)."""
        ids = [f"{self.prefix}-bare-{uuid.uuid4().hex}" for _ in range(count)]
        gate = asyncio.Semaphore(SUBMITTERS)

        async def one(job_id: str) -> None:
            async with gate:
                job = await self._pool.enqueue_job("run_job", job_id, _job_id=job_id)
            if job is None:
                raise BenchError(f"arq refused job {job_id}")

        with costing(workers) as cpu:
            began = time.perf_counter()
            await asyncio.gather(*(one(i) for i in ids))
            submit_s = time.perf_counter() - began
            deadline = time.monotonic() + BATCH_DEADLINE_S
            while await self._pool.zcard(self.queue):
                if time.monotonic() > deadline:
                    raise BenchError(f"bare arq: jobs still queued after {BATCH_DEADLINE_S:.0f} s")
                await asyncio.sleep(POLL_S)
        self.batches.append((ids, Cost(submit_s, *cpu)))

    def figures(self, stamps_files: list[Path], measured: Sequence[int]) -> Figures:
        stamps: dict[str, tuple[float, float]] = {}
        for path in stamps_files:
            if not path.exists():
                raise BenchError(f"bare arq worker wrote no timestamps to {path}")
            for job_id, enqueued, done in json.loads(path.read_text()):
                stamps[job_id] = (enqueued, done)
        batches = []
        for index in measured:
            ids, cost = self.batches[index]
            missing = [i for i in ids if i not in stamps]
            if missing:
                raise BenchError(f"bare arq: {len(missing)} of {len(ids)} jobs did not run")
            batches.append(Batch([stamps[i][0] for i in ids], [stamps[i][1] for i in ids], cost))
        return Figures("bare arq no-op", batches)


# --- arq: dyngen workers vs bare workers ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(workdir: Path) -> AsyncIterator[tuple[str | None, str]]:
    """A PostgreSQL database of the run's own (dropped after), or None (SQLite) when there is none."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        await _admin_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # asyncpg's errors, OSError, a timeout: all mean "no usable PostgreSQL here"
        print(f"  no PostgreSQL ({type(exc).__name__}: {exc}); arq jobs use SQLite in {workdir}")
        yield None, "SQLite"
        return
    try:
        yield f"{POSTGRES_ASYNC_BASE}/{name}", "PG"
    finally:
        await _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def delete_arq_keys(prefix: str, job_ids: Sequence[str]) -> None:
    """arq keeps per-job keys outside the queue's name (`arq:job:<id>`, ...): delete the run's."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"arq:*:{prefix}-*", count=1000)]
        keys += [f"arq:{kind}:{i}" for i in job_ids for kind in ("job", "in-progress", "retry", "result")]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
    finally:
        await client.aclose()


async def arq_contest(workdir: Path, prefix: str, db_url: str | None, db_name: str) -> tuple[Figures, Figures]:
    """Both kinds of workers up and warmed, then batches in ABBA order; returns (dyngen, bare)."""
    from dyngen.adapters.db.repository import create_engine
    from dyngen.config import Settings

    data_dir = workdir / "arq"
    metrics = data_dir / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, database_url=db_url, redis_url=REDIS_URL, redis_prefix=prefix)
    env = {
        "DYNGEN_DATA_DIR": str(data_dir),
        "DYNGEN_REDIS_URL": REDIS_URL,
        "DYNGEN_REDIS_PREFIX": prefix,
        "DYNGEN_WORKER_MAX_JOBS": str(MAX_JOBS),
        "DYNGEN_LOG_LEVEL": "info",  # the default
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),  # as `dyngen serve` on the same machine shares it
        **({"DYNGEN_DATABASE_URL": db_url} if db_url else {}),
    }
    label = f"arq, {WORKERS} workers ({db_name})"
    bare = BareArq(f"{prefix}:bare", prefix)
    stamps = [workdir / f"bare-{i}.json" for i in range(WORKERS)]
    argv = [["dyngen-worker"]] * WORKERS + [["bare-worker", bare.queue, str(s)] for s in stamps]
    logs = [workdir / f"dyngen-worker-{i}.log" for i in range(WORKERS)] + [
        workdir / f"bare-worker-{i}.log" for i in range(WORKERS)
    ]
    dyngen_ids: list[str] = []
    # Migrates a fresh database before any worker starts (workers only check the schema).
    async with dyngen_services(settings, migrate=True) as services:
        engine = create_engine(settings.resolved_database_url)
        await bare.start()
        try:
            began = time.monotonic()
            async with worker_processes(argv, env, logs) as pids:
                print(f"  {2 * WORKERS} worker processes up in {time.monotonic() - began:.1f} s")
                ours, theirs = pids[:WORKERS], pids[WORKERS:]
                warm = await dyngen_batch(services, engine, WARMUP_JOBS, f"{label} warm-up", seen=dyngen_ids)
                batches: list[Batch] = [warm]
                await bare.batch(WARMUP_JOBS)
                for contender in ("bare", "dyngen", "dyngen", "bare"):
                    if contender == "bare":
                        await bare.batch(JOBS, workers=theirs)
                    else:
                        batches.append(await dyngen_batch(services, engine, JOBS, label, seen=dyngen_ids, workers=ours))
            dyngen_figures = Figures(label, batches[1:], slots=WORKERS * MAX_JOBS)
            bare_figures = bare.figures(stamps, measured=[1, 2])
        finally:
            await bare.aclose()
            await engine.dispose()
            await delete_arq_keys(prefix, dyngen_ids)
    return dyngen_figures, bare_figures


async def arq_rows(workdir: Path) -> tuple[list[Row], Figures | None]:
    """The arq rows, and the bare baseline (None without Redis)."""
    reason = await redis_missing()
    if reason is not None:
        return _skipped([f"arq, {WORKERS} workers"], reason), None
    prefix = new_redis_prefix()
    try:
        async with database(workdir) as (db_url, db_name):
            dyngen_figures, bare_figures = await arq_contest(workdir, prefix, db_url, db_name)
    finally:
        await delete_redis_prefix(prefix)
        await delete_arq_keys(prefix, [])
    print(bare_figures.line())
    print(dyngen_figures.line())
    return _rows(dyngen_figures, bare_figures, goal=True), bare_figures


async def measure(workdir: Path) -> list[Row]:
    rows, baseline = await arq_rows(workdir)
    embedded_figures = await embedded(workdir)
    print(embedded_figures.line())
    return _rows(embedded_figures, baseline, goal=False) + rows


def run() -> list[Row]:
    """Job overhead on the embedded runner and on arq workers against bare arq; prints the raw figures."""
    with tempfile.TemporaryDirectory(prefix="dyngen-bench-jobs-") as tmp:
        return run_async(measure(Path(tmp)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["dyngen-worker"]:
        _dyngen_worker()
    elif sys.argv[1:2] == ["bare-worker"]:
        _bare_worker(sys.argv[2], sys.argv[3])
    else:
        from bench import table

        print(table(run()))
