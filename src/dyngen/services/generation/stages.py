"""A pipeline's script stage: the beats a text provider writes for a transition that a video provider
then renders (`services/machinery/pipelines.py`).

The script is its own generation: cached under its own key (the request's key, `#script=` and the script
provider), budgeted under the script provider, and recorded with its element checks. So a node moved to
another render provider (another pipeline with the same script) renders the cached script instead of
paying for it again, and the records show what each stage cost.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from dyngen.domain.cache_keys import ResolvedSeed
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import GenerationRecord
from dyngen.domain.responses import ElementCheck, GeneratedContentPayload, StageInfo
from dyngen.ports import Provider
from dyngen.services.generation.attempts import Checked, Progress, run_provider, settled, settled_on_failure
from dyngen.services.generation.outcomes import CACHE_FORMAT, CacheEntry, Outcome, Prepared
from dyngen.services.generation.ports import RunPorts
from dyngen.services.generation.request import config_fingerprint
from dyngen.services.machinery.ids import new_id
from dyngen.services.reporting.records import record_generation

log = logging.getLogger("dyngen.generation")


@dataclass(frozen=True, slots=True)
class Script:
    """The beats a script stage wrote (or the cache held), how its elements were verified, and the stage."""

    payload: GeneratedContentPayload
    elements: list[ElementCheck]
    stage: StageInfo


def script_key(prepared: Prepared, provider: Provider) -> str:
    """The script's cache key: the request's, and the script provider (never the render provider)."""
    return f"{prepared.key}#script={provider.info.name}"


async def script_stage(
    ports: RunPorts,
    prepared: Prepared,
    seed: ResolvedSeed,
    provider: Provider,
    *,
    deadline: float,
    progress: Progress | None = None,
) -> Script:
    """The script for a pipeline's request: from the cache, else written by `provider` (budgeted, checked
    against the node's elements, recorded, cached).

    Raises:
        DyngenError: The script stage failed (its last error); the caller falls back.
    """
    request = prepared.request
    key = script_key(prepared, provider)
    fingerprint = config_fingerprint(request, provider=provider.info.name)

    def decode(raw: bytes) -> Outcome | None:
        try:
            entry = CacheEntry.model_validate_json(raw)
        except ValueError:
            return None
        fresh = entry.format == CACHE_FORMAT and entry.fingerprint == fingerprint
        return entry.outcome if fresh and entry.outcome.content is not None else None

    if prepared.cacheable:
        found = await ports.cache.get(key, decode, durable=True, promote_ttl_s=prepared.ttl_s)
        if found is not None:
            outcome, _ = found
            assert outcome.content is not None  # decode keeps only entries with content
            stage = StageInfo(
                stage="script", provider=provider.info.name, generation_id=outcome.generation_id, cache_hit=True
            )
            return Script(payload=outcome.content, elements=list(outcome.elements or []), stage=stage)
    started = ports.clock.monotonic()
    checked, error, attempts = await run_provider(ports, request, provider, seed, progress, deadline=deadline)
    if checked is None:
        assert error is not None
        raise DyngenError(error.code, f"script stage '{provider.info.name}': {error.message}", details=error.details)
    async with settled_on_failure(checked.settling):  # the fallback the caller then answers waits for it too
        script = await _recorded(ports, prepared, seed, provider, checked, attempts=attempts, started=started)
    await settled(checked.settling)  # in the script's record's batch, or before it
    return script


async def _recorded(
    ports: RunPorts,
    prepared: Prepared,
    seed: ResolvedSeed,
    provider: Provider,
    checked: Checked,
    *,
    attempts: int,
    started: float,
) -> Script:
    """A script the provider wrote: checked for beats, recorded and cached."""
    request = prepared.request
    key = script_key(prepared, provider)
    fingerprint = config_fingerprint(request, provider=provider.info.name)
    result = checked.result
    latency_ms = round((ports.clock.monotonic() - started) * 1000, 3)
    ports.metrics.generation(
        node=prepared.node,
        type_=request.type.value,
        provider=provider.info.name,
        outcome="complete",
        seconds=latency_ms / 1000,
        tokens=result.tokens,
    )
    if not result.payload.beats:
        raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, f"script stage '{provider.info.name}' wrote no beats")
    generation_id = new_id()
    stage = StageInfo(
        stage="script",
        provider=provider.info.name,
        generation_id=generation_id,
        tokens=result.tokens,
        cost=result.cost,
    )
    payload_json = result.payload.model_dump_json(exclude_none=True)
    record = GenerationRecord(
        id=generation_id,
        created_at=ports.clock.now(),
        completed_at=ports.clock.now(),
        node_id=request.node_id,
        cache_key=key,
        version=request.version,
        type=request.type.value,
        purpose=request.purpose.value,
        strategy=request.strategy.value,
        seed=seed.value,
        seed_source=seed.source.value,
        deterministic=seed.deterministic and provider.info.deterministic,
        provider=provider.info.name,
        provider_fingerprint=result.fingerprint or None,
        status=GenerationStatus.COMPLETE,
        latency_ms=latency_ms,
        cost_tokens=result.tokens,
        cost=result.cost,
        attempts=attempts,
        content=result.payload,
        content_hash=hashlib.sha256(payload_json.encode()).hexdigest(),
        config_fingerprint=fingerprint,
        request=request.model_dump(mode="json", by_alias=True, exclude_none=True),
        arm=prepared.arm,
        elements=checked.elements,
        stages=[stage],
    )
    await record_generation(
        record=record,
        within_s=ports.options.record_timeout_s,
        repository=ports.repository,
        jobs=ports.jobs,
        outbox=ports.outbox,
        tasks=ports.tasks,
    )
    if prepared.cacheable:
        outcome = Outcome(
            generation_id=generation_id,
            status=GenerationStatus.COMPLETE,
            deterministic=record.deterministic,
            seed=seed.value,
            provider=provider.info.name,
            tokens=result.tokens,
            content=result.payload,
            elements=checked.elements,
        )
        entry = CacheEntry(format=CACHE_FORMAT, fingerprint=fingerprint, outcome=outcome, made_at=ports.clock.now())
        await ports.cache.set(key, entry.model_dump_json(exclude_none=True).encode(), ttl_s=prepared.ttl_s)
    log.info("pipeline.script key=%s provider=%s tokens=%d", key, provider.info.name, result.tokens)
    return Script(payload=result.payload, elements=checked.elements, stage=stage)
