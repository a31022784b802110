"""Synchronous generation: validate, seed, key, cache, provider under a deadline, check, store, respond.

On any generation failure the node's fallback runs, so the player never waits on a broken scene. Every
provider run (successful, failed, or forced to fail by `simulate`) is recorded as a `Generation`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from typing import Any

from pydantic import ValidationError

from dyngen.domain import fallback
from dyngen.domain.cache_keys import ResolvedSeed, cache_key, resolve_seed
from dyngen.domain.contracts import (
    CacheInfo,
    Cost,
    ErrorInfo,
    FallbackInfo,
    FallbackMode,
    GenerateContentRequest,
    GenerateContentResponse,
    GeneratedContentPayload,
    GenerationStatus,
    NodeStatus,
    Severity,
    SnakeModel,
    Strategy,
)
from dyngen.domain.elements import content_text, violations
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.domain.validation import DEFAULT_MAX_RETRIES, validate_config
from dyngen.ports import Provider, ProviderCall, ProviderResult
from dyngen.services.container import Services

log = logging.getLogger("dyngen.generation")

CACHE_FORMAT = 1
JOIN_GRACE_S = 0.25


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
    format: int
    fingerprint: str
    outcome: Outcome


class FlightResult(SnakeModel):
    """What a single flight hands to every caller (as JSON bytes, so it can cross processes)."""

    outcome: Outcome
    tier: str | None = None


def new_id() -> str:
    return uuid.uuid4().hex


def config_fingerprint(request: GenerateContentRequest) -> str:
    """A hash of everything in a request that shapes content but is not in the cache key.

    A cached entry made under another fingerprint is stale (the node changed without a version bump)
    and is regenerated rather than served.
    """
    shaping = request.model_dump(
        mode="json",
        include={
            "style",
            "duration",
            "constraints",
            "from_scene",
            "to_scene",
            "social_context",
            "provider",
            "fallback",
        },
    )
    canonical = json.dumps(shaping, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _reject_invalid(request: GenerateContentRequest) -> None:
    report = validate_config(request.node_config())
    if report.status is NodeStatus.ERRORS:
        errors = [f for f in report.findings if f.severity is Severity.ERROR]
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"the node config has {len(errors)} error{'s' if len(errors) != 1 else ''}",
            details=[f.model_dump(mode="json") for f in errors],
        )


async def generate_content(*, request: GenerateContentRequest, services: Services) -> GenerateContentResponse:
    """Serve content for a Generation Node request.

    Args:
        request: The game's (or editor's) request.
        services: The assembled ports.

    Returns:
        `complete` with content, or `failed` with the node's fallback applied and the error that caused it.

    Raises:
        DyngenError: GEN_INVALID_CONFIG (422) for a config with errors or a missing scope id;
            FORBIDDEN (403) for `simulate` while dev tools are off.
    """
    started = services.clock.monotonic()
    if request.simulate is not None and not services.options.dev_tools:
        raise DyngenError(ErrorCode.FORBIDDEN, "simulate is a dev tool and dev tools are off in this deployment")
    _reject_invalid(request)
    provider = services.providers.select(request)
    key = cache_key(request)
    seed = resolve_seed(request, entropy=services.entropy)
    fingerprint = config_fingerprint(request)
    forced = request.simulate.forced_failure() if request.simulate else None
    cacheable = request.strategy is not Strategy.ALWAYS and forced is None

    ttl_s = services.options.cache_ttl_s.get(request.strategy.value)

    async def produce() -> bytes:
        hit = await _cached(services, key, fingerprint, ttl_s, durable=True) if cacheable else None
        if hit is not None:
            return FlightResult(outcome=hit[0], tier=hit[1]).model_dump_json().encode()
        outcome = await _generate(
            services,
            request,
            provider,
            key=key,
            seed=seed,
            fingerprint=fingerprint,
            cache_result=cacheable,
            ttl_s=ttl_s,
        )
        return FlightResult(outcome=outcome).model_dump_json().encode()

    joined = False
    tier: str | None
    if cacheable and (hit := await _cached(services, key, fingerprint, ttl_s)) is not None:
        outcome, tier = hit
    elif cacheable:
        # A caller that joins another's generation waits for the node's timeout (plus a little, so the
        # owner's own timeout fallback, which is recorded, reaches it first).
        wait_s = (request.fallback.timeout_ms or services.options.default_timeout_ms) / 1000 + JOIN_GRACE_S
        try:
            data, joined = await services.single_flight.run(f"{key}#{fingerprint}", produce, timeout_s=wait_s)
        except TimeoutError:
            return _response(
                _waited_too_long(request, seed), key=key, started=started, services=services, cache=CacheInfo(hit=False)
            )
        flight = FlightResult.model_validate_json(data)
        outcome, tier = flight.outcome, flight.tier
    else:
        flight = FlightResult.model_validate_json(await produce())
        outcome, tier = flight.outcome, flight.tier
    if tier is not None:
        cache = CacheInfo(hit=True, tier=tier)
        # A hit serves content as stored; a retry that happened when it was made is not this call's.
        outcome = outcome.model_copy(update={"fallback": None})
    else:
        cache = CacheInfo(hit=joined, tier="single_flight" if joined else None)
    return _response(outcome, key=key, started=started, services=services, cache=cache)


def _waited_too_long(request: GenerateContentRequest, seed: ResolvedSeed) -> Outcome:
    """The fallback for a caller whose deadline passed while another caller's generation was running."""
    error = DyngenError(
        ErrorCode.GEN_TIMEOUT, "another request for this content did not finish within the node's timeout"
    )
    payload, info = fallback.apply(request, error, mode=request.fallback.mode, attempts=0)
    log.warning("single_flight.wait_timeout node=%s", request.node_id)
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


def _response(
    outcome: Outcome, *, key: str, started: float, services: Services, cache: CacheInfo
) -> GenerateContentResponse:
    elapsed_ms = (services.clock.monotonic() - started) * 1000
    return GenerateContentResponse(
        status=outcome.status,
        content=outcome.content,
        cache_key=key,
        cache=cache,
        cost=Cost(tokens=0 if cache.hit else outcome.tokens, time_ms=round(elapsed_ms, 3)),
        deterministic=outcome.deterministic,
        seed=outcome.seed,
        generation_id=outcome.generation_id,
        provider=outcome.provider,
        fallback=outcome.fallback,
        error=outcome.error,
    )


async def _cached(
    services: Services, key: str, fingerprint: str, ttl_s: float | None, *, durable: bool = False
) -> tuple[Outcome, str] | None:
    def decode(raw: bytes) -> Outcome | None:
        try:
            entry = CacheEntry.model_validate_json(raw)
        except ValidationError:
            log.warning("cache.entry_unreadable key=%s", key)
            return None
        # Another format, or made from another config of the node: regenerate rather than serve stale.
        if entry.format != CACHE_FORMAT or entry.fingerprint != fingerprint:
            return None
        return entry.outcome

    return await services.cache.get(key, decode, durable=durable, promote_ttl_s=ttl_s)


async def _attempt(
    provider: Provider, call: ProviderCall, request: GenerateContentRequest, services: Services
) -> ProviderResult:
    simulate = request.simulate
    if simulate is not None and simulate.latency_ms:
        await services.clock.sleep(simulate.latency_ms / 1000)
    if simulate is not None and (forced := simulate.forced_failure()) is not None:
        raise DyngenError(forced, "forced by simulate.fail_with")
    result = await provider.generate(call)
    if not content_text(result.payload).strip() and not result.artifacts:
        raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, f"provider '{provider.info.name}' returned no content")
    problems = violations(result.payload, request.constraints)
    if problems:
        raise DyngenError(ErrorCode.GEN_CONSTRAINT_FAIL, "; ".join(problems))
    return result


async def _run_provider(
    services: Services, request: GenerateContentRequest, provider: Provider, seed: ResolvedSeed
) -> tuple[ProviderResult | None, DyngenError | None, int]:
    """Try the provider within the node's deadline, retrying when the fallback mode is `retry`.

    Returns the result (or None), the last error (or None) and the number of attempts made.
    """
    fb = request.fallback
    timeout_s = (fb.timeout_ms or services.options.default_timeout_ms) / 1000
    retries = (
        (fb.max_retries if fb.max_retries is not None else DEFAULT_MAX_RETRIES) if fb.mode is FallbackMode.RETRY else 0
    )
    deadline = services.clock.monotonic() + timeout_s
    error: DyngenError | None = None
    attempt = 0
    while attempt <= retries:
        remaining = deadline - services.clock.monotonic()
        if remaining <= 0:
            error = DyngenError(ErrorCode.GEN_TIMEOUT, f"no content within the node's {timeout_s * 1000:.0f} ms")
            break
        attempt += 1
        call = ProviderCall(request=request, seed=seed.value, attempt=attempt, deadline_s=remaining)
        try:
            async with asyncio.timeout(remaining):
                return await _attempt(provider, call, request, services), None, attempt
        except TimeoutError:
            error = DyngenError(ErrorCode.GEN_TIMEOUT, f"no content within the node's {timeout_s * 1000:.0f} ms")
        except DyngenError as exc:
            if not exc.code.is_generation_failure:
                raise
            error = exc
        except Exception as exc:  # a provider bug must become a coded failure and a fallback, never a 500
            log.exception("provider.crashed provider=%s", provider.info.name)
            error = DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"provider '{provider.info.name}' failed: {type(exc).__name__}"
            )
        if attempt > retries or not error.code.retryable:
            break
        backoff = services.options.retry_backoff_ms / 1000 * 2 ** (attempt - 1)
        await services.clock.sleep(max(0.0, min(backoff, deadline - services.clock.monotonic())))
    return None, error, attempt


async def _store_artifacts(
    services: Services, generation_id: str, result: ProviderResult
) -> tuple[list[ArtifactRecord], str | None]:
    """Store every artifact; return their records and the API URL of the primary one."""
    records: list[ArtifactRecord] = []
    for blob in result.artifacts:
        digest = hashlib.sha256(blob.data).hexdigest()
        uri = await services.artifacts.put(blob.data, media_type=blob.media_type, content_hash=digest)
        records.append(
            ArtifactRecord(
                id=new_id(),
                generation_id=generation_id,
                role=blob.role,
                media_type=blob.media_type,
                size=len(blob.data),
                content_hash=digest,
                storage_uri=uri,
                created_at=services.clock.now(),
            )
        )
    primary = next(
        (r for r, b in zip(records, result.artifacts, strict=True) if b.primary), records[0] if records else None
    )
    return records, f"/api/artifacts/{primary.id}" if primary else None


async def _generate(
    services: Services,
    request: GenerateContentRequest,
    provider: Provider,
    *,
    key: str,
    seed: ResolvedSeed,
    fingerprint: str,
    cache_result: bool,
    ttl_s: float | None,
) -> Outcome:
    """Run the provider, record the run, and cache a success (for `ttl_s`; None = no expiry)."""
    generation_id = new_id()
    created = services.clock.now()
    started = services.clock.monotonic()
    result, error, attempts = await _run_provider(services, request, provider, seed)
    latency_ms = round((services.clock.monotonic() - started) * 1000, 3)
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
    }
    if result is not None:
        artifacts, url = await _store_artifacts(services, generation_id, result)
        payload = result.payload.model_copy(update={"url": result.payload.url or url})
        payload_json = payload.model_dump_json(exclude_none=True)
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
            provider=provider.info.name,
            tokens=result.tokens,
            content=payload,
            fallback=retried,
        )
        await _record(services, record)
        if cache_result:
            entry = CacheEntry(format=CACHE_FORMAT, fingerprint=fingerprint, outcome=outcome)
            await services.cache.set(key, entry.model_dump_json(exclude_none=True).encode(), ttl_s=ttl_s)
        return outcome
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
    await _record(services, record)
    return Outcome(
        generation_id=generation_id,
        status=record.status,
        deterministic=record.deterministic,
        seed=seed.value,
        provider=provider.info.name,
        content=fallback_payload,
        fallback=info,
        error=ErrorInfo(code=error.code, message=error.message),
    )


async def _record(services: Services, record: GenerationRecord) -> None:
    # The player is served even when the record cannot be written; the failure is logged loudly.
    try:
        await services.repository.add(record)
    except Exception:
        log.exception("generation.record_failed id=%s key=%s", record.id, record.cache_key)
