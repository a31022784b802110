"""One provider run for a prepared request: under the node's deadline, with retries, the output checked
against the node's constraints, artifacts stored, the run recorded, a success cached; a failure ends in
the node's fallback. The player is never left waiting on a broken scene.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from dyngen.domain import fallback
from dyngen.domain.cache_keys import ResolvedSeed
from dyngen.domain.contracts import FallbackMode, GenerateContentRequest, GenerationStatus, Strategy
from dyngen.domain.elements import ElementsRefusedError
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.media import ARTIFACT_PATH
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.domain.responses import ElementCheck, ErrorInfo, FallbackInfo, GeneratedContentPayload, StageInfo
from dyngen.ports import ArtifactBlob, ArtifactStore, Clock, Provider, ProviderResult, RemoteJob
from dyngen.services.generation.attempts import Checked, Progress, run_provider, settled, settled_on_failure, timeout_s
from dyngen.services.generation.drift import drifted, look_up
from dyngen.services.generation.outcomes import CACHE_FORMAT, ArtifactRef, CacheEntry, Outcome, Prepared
from dyngen.services.generation.ports import RunPorts
from dyngen.services.generation.slots import CALL_SLOT
from dyngen.services.generation.stages import script_stage
from dyngen.services.machinery.ids import new_id
from dyngen.services.machinery.live_media import LiveArtifact
from dyngen.services.machinery.pipelines import PipelineProvider
from dyngen.services.reporting.records import record_generation

log = logging.getLogger("dyngen.generation")

# A job's own fields, carried from its queued record into its final one.
JOB_FIELDS = {"queued_at", "started_at", "idempotency_key", "request_hash", "job_attempts", "cancel_requested"}


async def _store_artifacts(
    generation_id: str,
    result: ProviderResult,
    *,
    artifacts: ArtifactStore,
    clock: Clock,
    deadline: float,
    stream: LiveArtifact | None = None,
) -> tuple[list[ArtifactRecord], str | None]:
    """Store every artifact, all at once, within a share of what is left of the node's deadline (a store
    that has not taken them by then leaves them in its spool); return their records and the API URL of
    the primary one.

    A video streamed while it rendered (`stream`) keeps the ids it was handed out with: the primary
    artifact takes the stream's id, and each whole artifact handed out with it (`stream.companions`) the
    id of the one of the same role and bytes. One the result lacks is stored all the same (a player holds
    its URL), and logged: the provider broke `ports.MediaStream`'s promise.
    """
    within = max((deadline - clock.monotonic()) * ARTIFACTS_SHARE, ARTIFACTS_FLOOR_S)
    blobs = list(result.artifacts)
    digests = [hashlib.sha256(blob.data).hexdigest() for blob in blobs]
    ids = [new_id() for _ in blobs]
    if stream is not None:
        if blobs:
            ids[next((i for i, b in enumerate(blobs) if b.primary), 0)] = stream.id
        handed = {(whole.role, whole.content_hash): whole for whole in stream.companions}
        for i, (blob, digest) in enumerate(zip(blobs, digests, strict=True)):
            if not blob.primary and (whole := handed.pop((blob.role, digest), None)) is not None:
                ids[i] = whole.id
        for whole in handed.values():
            log.warning("generation.handed_out_artifact_missing id=%s role=%s", generation_id, whole.role)
            blobs.append(ArtifactBlob(role=whole.role, media_type=whole.media_type, data=whole.data))
            digests.append(whole.content_hash)
            ids.append(whole.id)
    puts = [
        artifacts.put(blob.data, media_type=blob.media_type, content_hash=digest, within_s=within)
        for blob, digest in zip(blobs, digests, strict=True)
    ]
    # One artifact (most generations) is awaited in place: `gather` would wrap it in a task, and the
    # generation would queue twice behind every other request's work on the event loop (issue 18: ~3 ms
    # per miss at concurrency 32, with a local store whose small writes never leave the loop).
    uris = [await puts[0]] if len(puts) == 1 else await asyncio.gather(*puts)
    records = [
        ArtifactRecord(
            id=artifact_id,
            generation_id=generation_id,
            role=blob.role,
            media_type=blob.media_type,
            size=len(blob.data),
            content_hash=digest,
            storage_uri=uri,
            created_at=clock.now(),
        )
        for artifact_id, blob, digest, uri in zip(ids, blobs, digests, uris, strict=True)
    ]
    primary = next((r for r, b in zip(records, blobs, strict=True) if b.primary), records[0] if records else None)
    return records, f"{ARTIFACT_PATH}{primary.id}" if primary else None


# The artifacts wait for the object store at most this share of what is left of the node's deadline (at
# least `ARTIFACTS_FLOOR_S`); the rest is for the seed-drift check, the record and the answer.
ARTIFACTS_SHARE = 0.5
ARTIFACTS_FLOOR_S = 0.05
# A generation whose provider used its whole deadline still gets this long to write its record before
# the record goes to the outbox (less than `JOIN_GRACE_S`, so that callers waiting on it get its answer).
RECORD_GRACE_S = 0.2
# What the record leaves of the node's deadline for the rest of the answer (the outbox when the database
# did not take the record, the cache, the response): at most this long, at most this share of the deadline.
ANSWER_MARGIN_S = 0.5
ANSWER_MARGIN_SHARE = 0.2


def record_within_s(*, left_s: float, timeout_s: float, record_timeout_s: float) -> float:
    """How long a generation's record may wait for the database: what is left of the node's deadline
    (`left_s` of `timeout_s`) less the answer's margin, at most `record_timeout_s`, at least
    `RECORD_GRACE_S`."""
    margin = min(ANSWER_MARGIN_S, ANSWER_MARGIN_SHARE * timeout_s)
    return min(record_timeout_s, max(left_s - margin, RECORD_GRACE_S))


async def generate_and_record(ports: RunPorts, prepared: Prepared, seed: ResolvedSeed) -> Outcome:
    """Run the provider for a synchronous request, record the run, and cache a success.

    The answer keeps the node's deadline whatever the database does: the record is written within what
    is left of it less the answer's margin (`record_within_s`), else it goes to the outbox.
    The cache is filled once the record is committed (or kept in the outbox): no one is served content
    whose record could still be lost.

    A video provider that streams (`RunPorts.live`, `ports.MediaStream`) is answered as soon as its video
    is playable (`_answer_early`); the render, record and cache entry are finished behind the answer.
    """
    live = ports.live
    if live is None or "video/mp4" not in prepared.provider.info.media or not _may_answer_early(prepared):
        return await _generate_and_record(ports, prepared, seed)
    if isinstance(answered := live.answer(prepared.flight_key), Outcome):
        return answered  # the same content is rendering for another caller already: its video is playing
    generation_id = new_id()
    stream = live.open(
        role="video", media_type="video/mp4", flight_key=prepared.flight_key, generation_id=generation_id
    )
    work = asyncio.create_task(
        _generate_and_record(ports, prepared, seed, generation_id=generation_id, stream=stream),
        name=f"dyngen-render:{generation_id}",
    )
    playable = asyncio.create_task(stream.wait_playable())
    try:
        await asyncio.wait({work, playable}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()  # and wait for it: no ffmpeg outlives the request
        await asyncio.wait({work})
        raise
    finally:
        playable.cancel()
    if work.done() or stream.early is None:
        return await work
    outcome = _answer_early(prepared, seed, generation_id=generation_id, stream=stream, early=stream.early)
    live.release(stream, outcome)
    ports.tasks.adopt(f"render:{generation_id}", work)
    log.info("generation.streamed id=%s key=%s artifact=%s", generation_id, prepared.key, stream.id)
    return outcome


def _may_answer_early(prepared: Prepared) -> bool:
    """Whether the answer may come before the provider's result: not when the result's elements are to be
    checked (required or avoided elements), which could still refuse it and play the fallback instead."""
    constraints = prepared.request.constraints
    return not constraints.required_elements and not constraints.avoid_elements


def _answer_early(
    prepared: Prepared,
    seed: ResolvedSeed,
    *,
    generation_id: str,
    stream: LiveArtifact,
    early: ProviderResult,
) -> Outcome:
    """The answer for a video that is playable and still rendering, as the whole run will answer
    (`_complete`) from the result the provider said it will return (`early`): its URL names the video being
    written (`stream`), which becomes the recorded artifact of that id, and its other artifacts (a poster,
    captions, the script) are named by the ids their records will keep (`_store_artifacts`), served from
    `LiveArtifacts` meanwhile. Only the video's size is not known yet (its `bytes` is absent)."""
    provider = prepared.provider
    video = ArtifactRef(id=stream.id, role=stream.role, media_type=stream.media_type, bytes=None)
    whole = [ArtifactRef(id=w.id, role=w.role, media_type=w.media_type, bytes=len(w.data)) for w in stream.companions]
    return _complete(
        generation_id,
        seed,
        provider,
        early,
        payload=early.payload.model_copy(update={"url": early.payload.url or f"{ARTIFACT_PATH}{stream.id}"}),
        artifacts=[video, *whole],
        stages=_with_render(stream.stages, generation_id, early, provider) if stream.stages is not None else None,
        deterministic=seed.deterministic and provider.info.deterministic,
    )


def _complete(
    generation_id: str,
    seed: ResolvedSeed,
    provider: Provider,
    result: ProviderResult,
    *,
    payload: GeneratedContentPayload,
    artifacts: list[ArtifactRef],
    stages: list[StageInfo] | None,
    deterministic: bool,
    fallback: FallbackInfo | None = None,
    elements: list[ElementCheck] | None = None,
) -> Outcome:
    """The outcome of a provider's result: what a run answers once the result is recorded, and what a
    video streamed while it renders is answered with before (the two must not differ)."""
    return Outcome(
        generation_id=generation_id,
        status=GenerationStatus.COMPLETE,
        deterministic=deterministic,
        seed=seed.value,
        provider=result.answered_by or provider.info.name,
        tokens=result.tokens + sum(s.tokens for s in stages or [] if s.stage == "script"),
        content=payload,
        artifacts=artifacts or None,
        fallback=fallback,
        elements=elements or None,
        stages=stages,
    )


async def _generate_and_record(
    ports: RunPorts,
    prepared: Prepared,
    seed: ResolvedSeed,
    *,
    generation_id: str | None = None,
    stream: LiveArtifact | None = None,
) -> Outcome:
    """`generate_and_record`'s run: provider, record, cache; then `stream` ends (whole once the record
    is written, or failed) and is forgotten."""
    try:
        limit_s = timeout_s(ports.options, prepared.request)
        deadline = ports.clock.monotonic() + limit_s
        outcome, record, settling = await run_generation(
            ports, prepared, seed, generation_id=generation_id, stream=stream
        )
        within = record_within_s(
            left_s=deadline - ports.clock.monotonic(),
            timeout_s=limit_s,
            record_timeout_s=ports.options.record_timeout_s,
        )
        await record_generation(  # never raises but for a cancellation: a failed write goes to the outbox
            record=record,
            within_s=within,
            repository=ports.repository,
            jobs=ports.jobs,
            outbox=ports.outbox,
            tasks=ports.tasks,
        )
        await settled(settling)  # in the record's batch, or before it
        await cache_outcome(ports, prepared, outcome)
        if stream is not None and outcome.status is GenerationStatus.COMPLETE:
            stream.finish()
        return outcome
    finally:
        if stream is not None:
            stream.fail()  # no-op once finished
            if ports.live is not None:
                ports.live.close(stream)


async def generate_for_job(
    ports: RunPorts,
    prepared: Prepared,
    seed: ResolvedSeed,
    *,
    job: GenerationRecord,
    progress: Progress,
    remote_job: RemoteJob | None,
) -> GenerationRecord:
    """Run the provider for a job and cache a success; returns the job's final record, which the job
    stores itself (after deciding whether it runs again). The generation entry of `jobs.lifecycle`,
    which reaches it through `JobRunner.generate`."""
    outcome, final, settling = await run_generation(
        ports, prepared, seed, job=job, progress=progress, remote_job=remote_job
    )
    await settled(settling)  # the job's final record is written after this returns: nothing to share a batch with
    await cache_outcome(ports, prepared, outcome)
    return final


async def cache_outcome(ports: RunPorts, prepared: Prepared, outcome: Outcome) -> None:
    """Fill every cache tier with a complete outcome of a cacheable request, or keep an always-fresh node's
    as its newest content (`freshness`: served over its rate limit); anything else is not cached. A run
    answered while its video rendered does this once recorded, with its whole outcome."""
    newest = prepared.request.strategy is Strategy.ALWAYS
    if not (prepared.cacheable or newest) or outcome.status is not GenerationStatus.COMPLETE:
        return
    entry = CacheEntry(
        format=CACHE_FORMAT, fingerprint=prepared.fingerprint, outcome=outcome, made_at=ports.clock.now()
    )
    try:
        await ports.cache.set(prepared.key, entry.model_dump_json(exclude_none=True).encode(), ttl_s=prepared.ttl_s)
    except Exception:
        if not newest:
            raise
        log.warning("freshness.keep_failed key=%s", prepared.key, exc_info=True)  # the player has it already


async def run_generation(
    ports: RunPorts,
    prepared: Prepared,
    seed: ResolvedSeed,
    *,
    job: GenerationRecord | None = None,
    progress: Progress | None = None,
    remote_job: RemoteJob | None = None,
    generation_id: str | None = None,
    stream: LiveArtifact | None = None,
) -> tuple[Outcome, GenerationRecord, asyncio.Future[None] | None]:
    """Run the provider; the caller persists the returned record, awaits the returned budget settlement
    (`Checked.settling`: under way, so that it shares the record's batch) and then caches a success
    (`cache_outcome`).

    A synchronous request adds the record, a job finishes its own record with it (`job` gives the id and
    the job's fields), or puts the job back in the queue.

    Args:
        progress: Told of each provider attempt (`progress`, {"attempt": n}) and each job the provider
            starts upstream (`progress`, {"remote_job": {provider, id}}), for job event streams.
        remote_job: A job the provider started upstream in an earlier run of this job, to carry on with.
        generation_id: The id of a synchronous generation's record (default: a new one).
        stream: Where the provider may stream its video while it renders; the video artifact takes its id.
    """
    request, provider, key, fingerprint = prepared.request, prepared.provider, prepared.key, prepared.fingerprint
    generation_id = job.id if job is not None else generation_id or new_id()
    created = job.created_at if job is not None else ports.clock.now()
    started = ports.clock.monotonic()
    checked: Checked | None = None
    error: DyngenError | None = None
    attempts = 0
    stages: list[StageInfo] | None = None
    # What the key made before is read while the provider runs (`drifted` compares with it afterwards).
    lookup = None
    if prepared.refused is None and seed.deterministic and provider.info.deterministic:
        lookup = look_up(key, ports=ports)
    if prepared.refused is not None:  # nothing to run: the node's fallback, the error and its findings recorded
        error = _with_findings(prepared.refused)
    else:
        checked, error, attempts, stages = await _provider_run(
            ports, prepared, seed, progress, remote_job=remote_job, stream=stream
        )
    result = checked.result if checked is not None else None
    latency_ms = round((ports.clock.monotonic() - started) * 1000, 3)
    ports.metrics.generation(
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
        "completed_at": ports.clock.now(),
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
        "stages": stages,
    }
    if job is not None:
        common |= job.model_dump(include=JOB_FIELDS) | {"lease_owner": None, "lease_expires_at": None}
    if result is not None:
        settling = checked.settling if checked is not None else None
        async with settled_on_failure(settling):  # a failure here is answered once it has settled too
            deadline = started + timeout_s(ports.options, request)
            artifacts, url = await _store_artifacts(
                generation_id,
                result,
                artifacts=ports.artifacts,
                clock=ports.clock,
                deadline=deadline,
                stream=stream,
            )
            payload = result.payload.model_copy(update={"url": result.payload.url or url})
            if stages is not None:
                common["stages"] = stages = _with_render(stages, generation_id, result, provider)
            # The hash leaves out the URL: it names an artifact record, not the content.
            payload_json = payload.model_dump_json(exclude={"url"}, exclude_none=True)
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
                elements=checked.elements if checked is not None else None,
            )
            if record.deterministic and await drifted(record, deadline=deadline, ports=ports, lookup=lookup):
                record = record.model_copy(update={"deterministic": False})
            retried = (
                FallbackInfo(applied=True, mode=FallbackMode.RETRY, reason=f"succeeded on attempt {attempts}")
                if attempts > 1
                else None
            )
            outcome = _complete(
                generation_id,
                seed,
                provider,
                result,
                payload=payload,
                artifacts=[ArtifactRef(id=a.id, role=a.role, media_type=a.media_type, bytes=a.size) for a in artifacts],
                stages=stages,
                deterministic=record.deterministic,
                fallback=retried,
                elements=record.elements,
            )
            return outcome, record, settling
    assert error is not None
    if lookup is not None:
        lookup.cancel()  # no content to compare
    fallback_payload, info = fallback.apply(request, error, mode=request.fallback.mode, attempts=attempts)
    refused = error.checks if isinstance(error, ElementsRefusedError) else None  # which element, and why
    record = GenerationRecord(
        **common,
        elements=refused,
        status=GenerationStatus.FAILED,
        deterministic=seed.deterministic,
        error_code=error.code.value,
        error_message=error.message,
        fallback_mode=info.mode.value,
        fallback_reason=info.reason,
        content=fallback_payload,
    )
    log.info("generation.fallback key=%s code=%s mode=%s attempts=%d", key, error.code.value, info.mode.value, attempts)
    return (
        Outcome(
            generation_id=generation_id,
            status=record.status,
            deterministic=record.deterministic,
            seed=seed.value,
            provider=provider.info.name,
            content=fallback_payload,
            fallback=info,
            error=ErrorInfo(code=error.code, message=error.message),
            stages=stages,  # a pipeline's script stage, when it ran before the render failed
            elements=refused,
        ),
        record,
        None,
    )


async def _provider_run(
    ports: RunPorts,
    prepared: Prepared,
    seed: ResolvedSeed,
    progress: Progress | None,
    *,
    remote_job: RemoteJob | None,
    stream: LiveArtifact | None,
) -> tuple[Checked | None, DyngenError | None, int, list[StageInfo] | None]:
    """The provider's attempts (a pipeline's stages); a warm-up item's provider slot is given back as they end."""
    provider = prepared.provider
    try:
        if isinstance(provider, PipelineProvider):
            return await _run_pipeline(ports, prepared, seed, provider, progress, remote_job=remote_job, stream=stream)
        checked, error, attempts = await run_provider(
            ports, prepared.request, provider, seed, progress, remote_job=remote_job, stream=stream
        )
        return checked, error, attempts, None
    finally:
        if (slot := CALL_SLOT.get()) is not None:
            slot.give_back()


async def _run_pipeline(
    ports: RunPorts,
    prepared: Prepared,
    seed: ResolvedSeed,
    pipeline: PipelineProvider,
    progress: Progress | None,
    *,
    remote_job: RemoteJob | None,
    stream: LiveArtifact | None = None,
) -> tuple[Checked | None, DyngenError | None, int, list[StageInfo]]:
    """A pipeline's two stages under the node's one deadline: the script (cached under its own key, or
    written and recorded), then the render of its beats. Returns the render's checked result (or None),
    the error, the render's attempts and the stages run so far."""
    request = prepared.request
    deadline = ports.clock.monotonic() + timeout_s(ports.options, request)
    try:
        script = await script_stage(ports, prepared, seed, pipeline.script, deadline=deadline, progress=progress)
    except DyngenError as exc:
        if not exc.code.is_generation_failure:
            raise
        return None, exc, 0, [StageInfo(stage="script", provider=pipeline.script.info.name)]
    if stream is not None:  # an answer given while the render runs names the script stage too
        stream.stages = [script.stage]
    checked, error, attempts = await run_provider(
        ports,
        request,
        pipeline.render,
        seed,
        progress,
        remote_job=remote_job,
        deadline=deadline,
        script=script.payload,
        script_elements=script.elements,
        stream=stream,
    )
    return checked, error, attempts, [script.stage]


def _with_render(
    stages: list[StageInfo], generation_id: str, result: ProviderResult, pipeline: Provider
) -> list[StageInfo]:
    """A pipeline's stages with its render stage (this generation) added."""
    name = pipeline.render.info.name if isinstance(pipeline, PipelineProvider) else pipeline.info.name
    render = StageInfo(
        stage="render",
        provider=result.answered_by or name,
        generation_id=generation_id,
        tokens=result.tokens,
        cost=result.cost,
    )
    return [*stages, render]


def _with_findings(error: DyngenError) -> DyngenError:
    """`error` with its findings in its message (the record keeps the message)."""
    findings = "; ".join(str(d.get("message", d)) for d in error.details or [])
    return DyngenError(error.code, f"{error.message}: {findings}" if findings else error.message, details=error.details)


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
