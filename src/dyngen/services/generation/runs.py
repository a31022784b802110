"""One provider run for a prepared request: under the node's deadline, with retries, the output checked
against the node's constraints, artifacts stored, the run recorded, a success cached; a failure ends in
the node's fallback. The player is never left waiting on a broken scene.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dyngen.domain import fallback
from dyngen.domain.cache_keys import ResolvedSeed
from dyngen.domain.contracts import (
    ErrorInfo,
    FallbackInfo,
    FallbackMode,
    GenerateContentRequest,
    GenerationStatus,
    Simulate,
)
from dyngen.domain.elements import content_text, violations
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.domain.validation import DEFAULT_MAX_RETRIES
from dyngen.ports import ArtifactStore, Clock, GenerationFilter, Provider, ProviderCall, ProviderResult, RemoteJob
from dyngen.services.budgets import spending as budgets
from dyngen.services.generation.outcomes import CACHE_FORMAT, ArtifactRef, CacheEntry, Outcome, Prepared
from dyngen.services.generation.scene_images import fetch_scene_images
from dyngen.services.machinery.container import Options, Services
from dyngen.services.machinery.ids import new_id
from dyngen.services.reporting.records import record_generation

log = logging.getLogger("dyngen.generation")

Progress = Callable[[str, dict[str, Any]], Awaitable[None]]

# A job's own fields, carried from its queued record into its final one.
JOB_FIELDS = {"queued_at", "started_at", "idempotency_key", "request_hash", "job_attempts", "cancel_requested"}


async def _attempt(
    provider: Provider,
    call: ProviderCall,
    request: GenerateContentRequest,
    clock: Clock,
    spent: Callable[[float], None] = lambda _: None,
) -> ProviderResult:
    simulate = request.simulate
    if simulate is not None and simulate.latency_ms:
        await clock.sleep(simulate.latency_ms / 1000)
    if simulate is not None and (forced := simulate.forced_failure()) is not None:
        raise DyngenError(forced, "forced by simulate.fail_with")
    result = await provider.generate(call)
    spent(result.cost)  # what the call cost, even when its output is refused below
    if not content_text(result.payload).strip() and not result.artifacts:
        raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, f"provider '{provider.info.name}' returned no content")
    problems = violations(result.payload, request.constraints)
    if problems:
        raise DyngenError(ErrorCode.GEN_CONSTRAINT_FAIL, "; ".join(problems))
    return result


# Failures after which the provider may have billed the call: it was cut off mid-call by the deadline,
# or it answered with output that could not be used (a model asked twice).
_MAY_HAVE_BILLED = frozenset({ErrorCode.GEN_TIMEOUT, ErrorCode.GEN_EMPTY_OUTPUT})


def _spent(costs: list[float], failed: DyngenError | None, estimate: float, *, forced: Simulate | None) -> float | None:
    """What an attempt cost, for the budget: the provider's own figure when it answered; its estimate when
    it failed in a way that may still be billed (so a budget errs towards refusing, never overspending);
    None (the reservation is given back) when it never reached a paid call, or the caller was cancelled
    (the process is stopping: no ledger write is started then, and an unreleased hold expires by itself).
    """
    if costs:
        return costs[0]
    if forced is not None and forced.forced_failure() is not None:
        return None  # `simulate` failed it before the provider was called
    if failed is not None and failed.code in _MAY_HAVE_BILLED:
        return estimate
    return None


async def _run_provider(  # noqa: PLR0915 - one attempt loop: reserve, call, settle, back off
    services: Services,
    request: GenerateContentRequest,
    provider: Provider,
    seed: ResolvedSeed,
    progress: Progress | None = None,
    *,
    remote_job: RemoteJob | None = None,
) -> tuple[ProviderResult | None, DyngenError | None, int]:
    """Try the provider within the node's deadline, retrying when the fallback mode is `retry`.

    `remote_job` (a job the provider started upstream for an earlier run of this generation) is handed
    to the first attempt; each job the provider starts upstream is told to `progress`.

    Returns the result (or None), the last error (or None) and the number of attempts made.
    """
    on_remote_job = None
    on_progress = None
    if progress is not None:
        report = progress

        async def on_remote_job(job: RemoteJob) -> None:
            await report("progress", {"remote_job": {"provider": job.provider, "id": job.id}})

        async def on_progress(data: dict[str, Any]) -> None:
            await report("progress", {"upstream": data})

    fb = request.fallback
    timeout_s = _timeout_s(services.options, request)
    retries = (
        (fb.max_retries if fb.max_retries is not None else DEFAULT_MAX_RETRIES) if fb.mode is FallbackMode.RETRY else 0
    )
    deadline = services.clock.monotonic() + timeout_s
    # The images' lookup gets what is left of the deadline, at most as long as a record write may take.
    images = await fetch_scene_images(
        request=request,
        provider=provider,
        records=services.repository,
        artifacts=services.artifacts,
        tasks=services.refreshes,
        within_s=min(services.options.record_timeout_s, deadline - services.clock.monotonic()),
    )
    error: DyngenError | None = None
    attempt = 0
    while attempt <= retries:
        remaining = deadline - services.clock.monotonic()
        if remaining <= 0:
            error = DyngenError(ErrorCode.GEN_TIMEOUT, f"no content within the node's {timeout_s * 1000:.0f} ms")
            break
        attempt += 1
        if progress is not None:
            await progress("progress", {"attempt": attempt, "provider": provider.info.name})
        call = ProviderCall(
            request=request,
            seed=seed.value,
            attempt=attempt,
            deadline_s=remaining,
            images=images,
            remote_job=remote_job if attempt == 1 else None,
            on_remote_job=on_remote_job,
            on_progress=on_progress,
        )
        estimate = provider.estimate_cost(request)
        try:
            # The estimate is held in the node's budget and the global cap before the call (or refused).
            hold = await budgets.reserve(
                node_id=request.node_id,
                provider=provider.info.name,
                estimate=estimate,
                deadline_s=remaining,
                ledger=services.budget_ledger,
                policy=services.options.budgets,
                clock=services.clock,
            )
        except DyngenError as exc:
            error = exc
            break
        costs: list[float] = []
        failed: DyngenError | None = None
        try:
            async with asyncio.timeout(remaining):
                result = await _attempt(provider, call, request, services.clock, costs.append)
            services.metrics.provider_call(provider=provider.info.name, outcome="ok")
            return result, None, attempt
        except TimeoutError:
            error = failed = DyngenError(
                ErrorCode.GEN_TIMEOUT, f"no content within the node's {timeout_s * 1000:.0f} ms"
            )
        except DyngenError as exc:
            if not exc.code.is_generation_failure:
                raise
            error = failed = exc
        except Exception as exc:  # a provider bug must become a coded failure and a fallback, never a 500
            log.exception("provider.crashed provider=%s", provider.info.name)
            error = failed = DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"provider '{provider.info.name}' failed: {type(exc).__name__}"
            )
        finally:
            await budgets.settle(
                hold=hold,
                actual=_spent(costs, failed, estimate, forced=request.simulate),
                ledger=services.budget_ledger,
                clock=services.clock,
            )
        services.metrics.provider_call(provider=provider.info.name, outcome=error.code.value)
        if attempt > retries or not error.code.retryable:
            break
        backoff = services.options.retry_backoff_ms / 1000 * 2 ** (attempt - 1)
        await services.clock.sleep(max(0.0, min(backoff, deadline - services.clock.monotonic())))
    return None, error, attempt


async def _store_artifacts(
    generation_id: str, result: ProviderResult, *, artifacts: ArtifactStore, clock: Clock
) -> tuple[list[ArtifactRecord], str | None]:
    """Store every artifact; return their records and the API URL of the primary one."""
    records: list[ArtifactRecord] = []
    for blob in result.artifacts:
        digest = hashlib.sha256(blob.data).hexdigest()
        uri = await artifacts.put(blob.data, media_type=blob.media_type, content_hash=digest)
        records.append(
            ArtifactRecord(
                id=new_id(),
                generation_id=generation_id,
                role=blob.role,
                media_type=blob.media_type,
                size=len(blob.data),
                content_hash=digest,
                storage_uri=uri,
                created_at=clock.now(),
            )
        )
    primary = next(
        (r for r, b in zip(records, result.artifacts, strict=True) if b.primary), records[0] if records else None
    )
    return records, f"/api/artifacts/{primary.id}" if primary else None


# A generation whose provider used its whole deadline still gets this long to write its record before
# the record goes to the outbox (less than `JOIN_GRACE_S`, so that callers waiting on it get its answer).
RECORD_GRACE_S = 0.2


async def generate_and_record(services: Services, prepared: Prepared, seed: ResolvedSeed) -> Outcome:
    """Run the provider for a synchronous request, record the run, and cache a success.

    The answer keeps the node's deadline whatever the database does: the record is written within what
    is left of it (at most `record_timeout_s`, at least `RECORD_GRACE_S`), else it goes to the outbox.
    """
    deadline = services.clock.monotonic() + _timeout_s(services.options, prepared.request)
    outcome, record = await run_generation(services, prepared, seed)
    left = deadline - services.clock.monotonic()
    within = min(services.options.record_timeout_s, max(left, RECORD_GRACE_S))
    await record_generation(
        record=record,
        within_s=within,
        repository=services.repository,
        jobs=services.jobs,
        outbox=services.outbox,
        tasks=services.refreshes,
    )
    return outcome


def _timeout_s(options: Options, request: GenerateContentRequest) -> float:
    return (request.fallback.timeout_ms or options.default_timeout_ms) / 1000


async def run_generation(
    services: Services,
    prepared: Prepared,
    seed: ResolvedSeed,
    *,
    job: GenerationRecord | None = None,
    progress: Progress | None = None,
    remote_job: RemoteJob | None = None,
) -> tuple[Outcome, GenerationRecord]:
    """Run the provider and cache a success when the request is cacheable.

    The caller persists the returned record: a synchronous request adds it, a job finishes its own
    record with it (`job` gives the id and the job's fields), or puts the job back in the queue.

    Args:
        progress: Told of each provider attempt (`progress`, {"attempt": n}) and each job the provider
            starts upstream (`progress`, {"remote_job": {provider, id}}), for job event streams.
        remote_job: A job the provider started upstream in an earlier run of this job, to carry on with.
    """
    request, provider, key, fingerprint = prepared.request, prepared.provider, prepared.key, prepared.fingerprint
    generation_id = job.id if job is not None else new_id()
    created = job.created_at if job is not None else services.clock.now()
    started = services.clock.monotonic()
    result: ProviderResult | None = None
    error: DyngenError | None = None
    attempts = 0
    if prepared.refused is not None:  # nothing to run: the node's fallback, the error and its findings recorded
        error = _with_findings(prepared.refused)
    else:
        result, error, attempts = await _run_provider(
            services, request, provider, seed, progress, remote_job=remote_job
        )
    latency_ms = round((services.clock.monotonic() - started) * 1000, 3)
    services.metrics.generation(
        node=prepared.node,
        type_=request.type.value,
        provider=provider.info.name,
        outcome="complete" if result is not None else (error.code.value if error else "failed"),
        seconds=latency_ms / 1000,
        tokens=result.tokens if result is not None else 0,
    )
    common: dict[str, Any] = {
        "id": generation_id,
        "created_at": created,
        "completed_at": services.clock.now(),
        "node_id": request.node_id,
        "cache_key": key,
        "version": request.version,
        "type": request.type.value,
        "purpose": request.purpose.value,
        "strategy": request.strategy.value,
        "seed": seed.value,
        "seed_source": seed.source.value,
        "provider": provider.info.name,
        "latency_ms": latency_ms,
        "attempts": attempts,
        "config_fingerprint": fingerprint,
        "request": request.model_dump(mode="json", by_alias=True, exclude_none=True),
        "arm": prepared.arm,
    }
    if job is not None:
        common |= job.model_dump(include=JOB_FIELDS) | {"lease_owner": None, "lease_expires_at": None}
    if result is not None:
        artifacts, url = await _store_artifacts(
            generation_id, result, artifacts=services.artifacts, clock=services.clock
        )
        payload = result.payload.model_copy(update={"url": result.payload.url or url})
        # The hash leaves out the URL: it names an artifact record, not the content.
        payload_json = payload.model_copy(update={"url": None}).model_dump_json(exclude_none=True)
        record = GenerationRecord(
            **common,
            status=GenerationStatus.COMPLETE,
            deterministic=seed.deterministic and provider.info.deterministic,
            provider_fingerprint=result.fingerprint or None,
            cost_tokens=result.tokens,
            cost=result.cost,
            content=payload,
            content_hash=hashlib.sha256(payload_json.encode()).hexdigest(),
            artifacts=artifacts,
        )
        if record.deterministic and await _drifted(
            services, record, deadline=started + _timeout_s(services.options, request)
        ):
            record = record.model_copy(update={"deterministic": False})
        retried = (
            FallbackInfo(applied=True, mode=FallbackMode.RETRY, reason=f"succeeded on attempt {attempts}")
            if attempts > 1
            else None
        )
        outcome = Outcome(
            generation_id=generation_id,
            status=record.status,
            deterministic=record.deterministic,
            seed=seed.value,
            provider=result.answered_by or provider.info.name,
            tokens=result.tokens,
            content=payload,
            artifacts=[ArtifactRef(id=a.id, role=a.role, media_type=a.media_type, bytes=a.size) for a in artifacts]
            or None,
            fallback=retried,
        )
        if prepared.cacheable:
            entry = CacheEntry(
                format=CACHE_FORMAT, fingerprint=fingerprint, outcome=outcome, made_at=services.clock.now()
            )
            await services.cache.set(key, entry.model_dump_json(exclude_none=True).encode(), ttl_s=prepared.ttl_s)
        return outcome, record
    assert error is not None
    fallback_payload, info = fallback.apply(request, error, mode=request.fallback.mode, attempts=attempts)
    record = GenerationRecord(
        **common,
        status=GenerationStatus.FAILED,
        deterministic=seed.deterministic,
        error_code=error.code.value,
        error_message=error.message,
        fallback_mode=info.mode.value,
        fallback_reason=info.reason,
        content=fallback_payload,
    )
    log.info("generation.fallback key=%s code=%s mode=%s attempts=%d", key, error.code.value, info.mode.value, attempts)
    return Outcome(
        generation_id=generation_id,
        status=record.status,
        deterministic=record.deterministic,
        seed=seed.value,
        provider=provider.info.name,
        content=fallback_payload,
        fallback=info,
        error=ErrorInfo(code=error.code, message=error.message),
    ), record


def _with_findings(error: DyngenError) -> DyngenError:
    """`error` with its findings in its message (the record keeps the message)."""
    findings = "; ".join(str(d.get("message", d)) for d in error.details or [])
    return DyngenError(error.code, f"{error.message}: {findings}" if findings else error.message, details=error.details)


async def _drifted(services: Services, record: GenerationRecord, *, deadline: float) -> bool:
    """Seed drift (spec section 9): the same key, seed, config and provider made other content before.

    Logged with both hashes and counted; the caller marks the generation non-deterministic. Looked up
    within the node's deadline and `record_timeout_s`, and not at all while the database is taken as down
    (records wait in the outbox): telemetry never holds a player.
    """
    within = min(services.options.record_timeout_s, deadline - services.clock.monotonic())
    if within <= 0 or (services.outbox is not None and services.outbox.holding()):
        return False
    try:
        earlier = await services.refreshes.run_within(
            f"drift:{record.id}",
            services.repository.find(
                GenerationFilter(cache_key=record.cache_key, status=GenerationStatus.COMPLETE.value, limit=20)
            ),
            timeout_s=within,
        )
    except Exception:  # telemetry must never fail a generation
        return False
    for previous in earlier:
        same_inputs = (
            previous.id != record.id
            and previous.seed == record.seed
            and previous.config_fingerprint == record.config_fingerprint
            and previous.provider_fingerprint == record.provider_fingerprint
            and previous.content_hash is not None
        )
        if same_inputs and previous.content_hash != record.content_hash:
            log.warning(
                "generation.seed_drift key=%s seed=%s previous=%s previous_hash=%s hash=%s",
                record.cache_key,
                record.seed,
                previous.id,
                previous.content_hash,
                record.content_hash,
            )
            services.metrics.seed_drift(node=record.node_id or "-")
            return True
    return False


def waited_too_long(request: GenerateContentRequest, seed: ResolvedSeed) -> Outcome:
    """The fallback for a caller whose deadline passed while another caller's generation was running."""
    error = DyngenError(
        ErrorCode.GEN_TIMEOUT, "another request for this content did not finish within the node's timeout"
    )
    log.warning("single_flight.wait_timeout node=%s", request.node_id)
    return fallback_without_run(request, seed, error)


def fallback_without_run(request: GenerateContentRequest, seed: ResolvedSeed, error: DyngenError) -> Outcome:
    """The node's fallback for `error` when no provider ran for this caller (nothing is recorded)."""
    payload, info = fallback.apply(request, error, mode=request.fallback.mode, attempts=0)
    return Outcome(
        generation_id=None,
        status=GenerationStatus.FAILED,
        deterministic=seed.deterministic,
        seed=seed.value,
        provider=None,
        content=payload,
        fallback=info,
        error=ErrorInfo(code=error.code, message=error.message),
    )
