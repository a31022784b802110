"""`generate_content` over real services (the ephemeral embedded mode: memory repositories, object store and
cache tier) with a scripted FakeProvider.

Each test checks what the game client sees (the response) and what dyngen remembers (the records).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports
from dyngen.config import MEMORY_URL, Settings
from dyngen.domain.contracts import GenerateContentRequest, GenerationStatus
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import GenerationRecord
from dyngen.domain.responses import CacheInfo, ContentMetadata, GenerateContentResponse, InvalidateRequest
from dyngen.ports import Clock, GenerationFilter
from dyngen.services.generation.front_door import generate_content
from dyngen.services.generation.invalidation import invalidate
from dyngen.services.machinery.container import Services
from dyngen.services.reporting.records import get_generation, replay_outbox
from tests.fakes import FakeClock, FakeProvider, FakeRecordOutbox
from tests.support.waiting import hang_guard, until

UNAVAILABLE = ErrorCode.GEN_PROVIDER_UNAVAILABLE
COMPLETE, FAILED = GenerationStatus.COMPLETE, GenerationStatus.FAILED

Make = Callable[..., Awaitable[tuple[Services, FakeProvider]]]
T = TypeVar("T")


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    """Real services around a FakeProvider(**behaviour) registered as `builtin`, each on its own memory
    database; closed afterwards."""
    built: list[Services] = []

    async def _make(
        *, settings: dict[str, Any] | None = None, clock: Clock | None = None, **behaviour: Any
    ) -> tuple[Services, FakeProvider]:
        if clock is not None:  # the provider's latency and the service's deadlines on one clock
            behaviour["clock"] = clock
        provider = FakeProvider(name="builtin", **behaviour)
        options: dict[str, Any] = {
            "database_url": MEMORY_URL,
            "retry_backoff_ms": 1,
            **(settings or {}),
        }
        built.append(await build(Settings(**options), providers={"builtin": provider}, clock=clock))
        return built[-1], provider

    yield _make
    for services in built:
        await services.aclose()


def req(**fields: Any) -> GenerateContentRequest:
    """Node n-cafe: a dialogue from `cafe` to `street`, placeholder fallback; `fields` override."""
    wire: dict[str, Any] = {
        "type": "dialogue",
        "node_id": "n-cafe",
        "from_scene": {"id": "cafe"},
        "to_scene": {"id": "street", "location": "main_street"},
        "style": {"moodTo": "calm"},
        "fallback": {"mode": "placeholder"},
    }
    wire.update(fields)
    return GenerateContentRequest.model_validate(wire)


async def gen(services: Services, **fields: Any) -> GenerateContentResponse:
    return await generate_content(request=req(**fields), ports=generation_ports(services))


async def records(services: Services, **filters: Any) -> list[GenerationRecord]:
    return await services.repository.find(GenerationFilter(**filters))


async def written(services: Services, cache_key: str) -> list[GenerationRecord]:
    """The records of `cache_key` once there are any (a record is written after the response)."""
    return await until(lambda: records(services, cache_key=cache_key), what=f"a record of {cache_key}")


def seen(resp: GenerateContentResponse) -> tuple[str, str | None, str | None]:
    """What a game client branches on: status, error code, and which fallback ran."""
    code = resp.error.code.value if resp.error else None
    return resp.status.value, code, resp.fallback.mode.value if resp.fallback else None


def kept(record: GenerationRecord) -> tuple[str, str | None, str | None]:
    """The same three facts, as recorded."""
    return record.status.value, record.error_code, record.fallback_mode


def reason(resp: GenerateContentResponse) -> str:
    assert resp.fallback is not None
    return resp.fallback.reason


async def recorded(services: Services, response: GenerateContentResponse) -> GenerationRecord:
    assert response.generation_id is not None
    record = await services.repository.get(response.generation_id)
    assert record is not None, "every provider run is recorded"
    return record


async def test_success_serves_content_whose_artifact_holds_the_provider_bytes(make: Make) -> None:
    services, provider = await make()

    resp = await gen(services)

    assert seen(resp) == ("complete", None, None)
    assert resp.cache.hit is False
    assert resp.content is not None
    assert resp.content.dialogue
    assert resp.content.metadata == ContentMetadata(mood="calm", tags=["fake"])
    assert resp.content.url is not None
    assert resp.content.url.startswith("/api/artifacts/")
    artifact_id, _, signature = resp.content.url.removeprefix("/api/artifacts/").partition("?")
    assert signature.startswith("exp="), "the URL is signed"
    artifact = await services.repository.get_artifact(artifact_id)
    assert artifact is not None
    data = await services.artifacts.get(artifact.storage_uri)
    produced = await provider.generate(provider.calls[0])  # deterministic: same call, same bytes
    assert data == produced.artifacts[0].data
    assert artifact.content_hash == hashlib.sha256(data).hexdigest()
    assert artifact.size == len(data)
    assert resp.cost.tokens == produced.tokens > 0

    record = await recorded(services, resp)
    assert kept(record) == ("complete", None, None)
    assert record.latency_ms > 0
    assert (record.attempts, record.cost_tokens) == (1, produced.tokens)
    assert (record.provider, record.provider_fingerprint) == ("builtin", "fake/1")
    # The record keeps the artifact's path; the response hands it out signed.
    unsigned = resp.content.model_copy(update={"url": f"/api/artifacts/{artifact_id}"})
    assert (record.content, record.cache_key, record.node_id) == (unsigned, resp.cache_key, "n-cafe")
    assert record.artifacts == [artifact]
    assert await records(services, cache_key=resp.cache_key) == [record]


async def test_identical_call_is_served_from_memory_without_calling_the_provider(make: Make) -> None:
    services, provider = await make()

    first = await gen(services)
    second = await gen(services)

    assert second.cache == CacheInfo(hit=True, tier="memory")
    assert (first.cost.tokens > 0, second.cost.tokens) == (True, 0)
    assert (second.generation_id, second.content, second.seed) == (first.generation_id, first.content, first.seed)
    assert len(provider.calls) == 1
    assert len(await records(services)) == 1, "a cache hit is not a generation"


async def test_strategy_always_generates_fresh_content_from_a_timestamp_seed_on_every_call(make: Make) -> None:
    services, provider = await make()

    responses = [await gen(services, strategy="always") for _ in range(3)]

    assert len(provider.calls) == 3
    assert [r.cache.hit for r in responses] == [False] * 3
    assert len({r.generation_id for r in responses}) == len({r.seed for r in responses}) == 3
    assert [c.seed for c in provider.calls] == [r.seed for r in responses]
    assert [r.deterministic for r in responses] == [False] * 3
    kept_records = await records(services)
    assert len(kept_records) == 3
    assert {(r.seed_source, r.deterministic) for r in kept_records} == {("timestamp", False)}


async def test_simulated_failure_bypasses_the_cache_and_leaves_it_intact(make: Make) -> None:
    services, provider = await make()
    cached = await gen(services)

    forced = await gen(services, simulate={"fail_with": "GEN_TIMEOUT"})

    assert seen(forced) == ("failed", "GEN_TIMEOUT", "placeholder")
    assert forced.cache.hit is False
    assert forced.content is not None
    assert forced.content.placeholder is True
    assert len(provider.calls) == 1, "a forced failure never reaches the provider"
    assert kept(await recorded(services, forced)) == ("failed", "GEN_TIMEOUT", "placeholder")

    after = await gen(services)
    assert after.cache.hit is True
    assert (after.generation_id, after.content) == (cached.generation_id, cached.content)


async def test_nodes_whose_config_differs_keep_their_own_entries_a_b_a_b_is_two_misses_then_two_hits(
    make: Make,
) -> None:
    """Issue 14: two nodes with equal type, purpose and scenes but other config (ids, moods) used to
    share one key and overwrite each other's entry (A, B, A, B: 4 misses)."""
    services, provider = await make()
    a = {"node_id": "node-a", "style": {"moodTo": "calm"}}
    b = {"node_id": "node-b", "style": {"moodTo": "tense"}}

    answers = [await gen(services, **fields) for fields in (a, b, a, b)]

    assert [r.cache.hit for r in answers] == [False, False, True, True]
    assert len(provider.calls) == 2
    assert answers[0].cache_key != answers[1].cache_key
    assert answers[0].cache_key.split(";c=")[0] == answers[1].cache_key.split(";c=")[0], "the seven parts lead"
    assert (answers[2].content, answers[3].content) == (answers[0].content, answers[1].content)
    assert answers[3].content is not None
    assert answers[3].content.metadata == ContentMetadata(mood="tense", tags=["fake"])
    bumped = await gen(services, **b, version=2)
    assert (bumped.cache_key != answers[1].cache_key, bumped.cache.hit) == (True, False)


FAILING = {
    "unavailable": ({"failures": [UNAVAILABLE]}, UNAVAILABLE),
    "crash": ({"crash": True}, UNAVAILABLE),
    "empty": ({"empty": True}, ErrorCode.GEN_EMPTY_OUTPUT),
}
FALLBACKS = {
    "default_content": {"mode": "default_content", "defaultContentId": "cafe-bridge"},
    "skip": {"mode": "skip"},
    "placeholder": {"mode": "placeholder"},
}


@pytest.mark.parametrize("failure", FAILING)
@pytest.mark.parametrize("mode", FALLBACKS)
async def test_failed_generation_applies_the_nodes_fallback_says_why_and_is_recorded(
    make: Make, mode: str, failure: str
) -> None:
    behaviour, code = FAILING[failure]
    services, _ = await make(**behaviour)

    resp = await gen(services, fallback=FALLBACKS[mode])

    assert seen(resp) == ("failed", code.value, mode)
    assert resp.fallback is not None
    assert resp.fallback.applied
    assert reason(resp).startswith(code.value)
    if failure == "crash":
        assert "RuntimeError" in reason(resp)
    if mode == "default_content":
        assert resp.content is not None
        assert resp.content.content_id == "cafe-bridge"
    elif mode == "skip":
        assert resp.content is None
    else:
        assert resp.content is not None
        assert resp.content.placeholder is True
        assert resp.content.dialogue == ["Moments later at main street..."]
    record = await recorded(services, resp)
    assert kept(record) == ("failed", code.value, mode)
    assert resp.error is not None
    assert (record.error_message, record.fallback_reason) == (resp.error.message, reason(resp))
    assert record.content == resp.content


async def test_a_failure_is_not_cached_so_the_next_call_tries_again(make: Make) -> None:
    services, provider = await make(failures=[UNAVAILABLE])

    failed = await gen(services)
    retried = await gen(services)

    assert (failed.status, retried.status, retried.cache.hit) == (FAILED, COMPLETE, False)
    assert len(provider.calls) == 2


async def test_retry_succeeds_on_the_third_attempt(make: Make) -> None:
    services, provider = await make(failures=[UNAVAILABLE, UNAVAILABLE])

    resp = await gen(services, fallback={"mode": "retry", "maxRetries": 2})

    assert seen(resp) == ("complete", None, "retry")
    assert resp.content is not None
    assert "attempt 3" in reason(resp)
    assert [c.attempt for c in provider.calls] == [1, 2, 3]
    record = await recorded(services, resp)
    assert (record.status, record.attempts) == (COMPLETE, 3)


async def test_retry_that_runs_out_of_attempts_skips(make: Make) -> None:
    services, provider = await make(failures=[UNAVAILABLE] * 3)

    resp = await gen(services, fallback={"mode": "retry", "maxRetries": 2})

    assert seen(resp) == ("failed", UNAVAILABLE.value, "skip")
    assert resp.content is None
    assert "3 attempts" in reason(resp)
    assert len(provider.calls) == 3
    record = await recorded(services, resp)
    assert (kept(record), record.attempts) == (("failed", UNAVAILABLE.value, "skip"), 3)


async def test_output_breaking_avoid_elements_fails_the_constraint_check_and_is_not_retried(make: Make) -> None:
    services, provider = await make(mention="violence")

    resp = await gen(services, constraints={"avoidElements": ["violence"]}, fallback={"mode": "retry", "maxRetries": 2})

    assert seen(resp) == ("failed", "GEN_CONSTRAINT_FAIL", "skip")
    assert "'violence' is present" in reason(resp)
    assert "1 attempt" in reason(resp)
    assert len(provider.calls) == 1, "the same constraint would fail again: not retryable"
    record = await recorded(services, resp)
    assert (record.error_code, record.attempts) == ("GEN_CONSTRAINT_FAIL", 1)


async def test_a_provider_that_never_answers_is_cut_off_into_the_fallback_at_the_deadline(make: Make) -> None:
    services, provider = await make(hang=True)

    async with hang_guard("the deadline to answer"):  # the provider never answers on its own
        resp = await gen(services, fallback={"mode": "placeholder", "timeoutMs": 50})

    assert seen(resp) == ("failed", "GEN_TIMEOUT", "placeholder")
    assert not provider.released.is_set(), "the answer came from the deadline, not from the provider"
    assert resp.content is not None
    assert resp.content.placeholder is True
    [record] = await until(
        lambda: records(services, cache_key=resp.cache_key), what="the record written after the response"
    )
    assert kept(record) == ("failed", "GEN_TIMEOUT", "placeholder")


async def test_the_caller_whose_generation_timed_out_gets_that_generations_outcome(make: Make) -> None:
    services, _ = await make(hang=True)

    resp = await gen(services, fallback={"mode": "placeholder", "timeoutMs": 50})

    [record] = await until(
        lambda: records(services, cache_key=resp.cache_key), what="the record written after the response"
    )
    assert resp.error is not None
    assert (resp.generation_id, resp.error.message) == (record.id, record.error_message)


async def test_retries_share_one_deadline(make: Make) -> None:
    # Each attempt (0.15 s on the injected clock) fits in timeoutMs on its own; the second ends past the
    # shared 0.2 s deadline, so no third is started (four attempts would have succeeded).
    clock = FakeClock()
    services, provider = await make(failures=[UNAVAILABLE] * 3, latency_s=0.15, clock=clock)

    resp = await gen(services, fallback={"mode": "retry", "maxRetries": 3, "timeoutMs": 200})

    assert seen(resp) == ("failed", "GEN_TIMEOUT", "skip")
    [record] = await until(
        lambda: records(services, cache_key=resp.cache_key), what="the record written after the response"
    )
    assert kept(record) == ("failed", "GEN_TIMEOUT", "skip")
    assert len(provider.calls) == 2, "the second attempt ran into the deadline; no third was started"
    first, second = (call.deadline_s for call in provider.calls)
    assert first == pytest.approx(200 / 1000), "the first attempt had the node's whole timeoutMs"
    assert second < first, "the second attempt got only what the first left of that one deadline"


async def test_recorded_attempts_count_only_attempts_actually_made(make: Make) -> None:
    # Backoffs of 1 s then 2 s (cut to 0.5 s) land exactly on the deadline.
    services, provider = await make(failures=[UNAVAILABLE] * 4, settings={"retry_backoff_ms": 1000}, clock=FakeClock())

    resp = await gen(services, fallback={"mode": "retry", "maxRetries": 3, "timeoutMs": 1500})

    assert len(provider.calls) == 2
    assert (await recorded(services, resp)).attempts == 2
    assert "2 attempts" in reason(resp)


def single_flight_waiters(services: Services) -> float:
    """The callers waiting on another caller's single flight now, as the metrics gauge counts them."""
    text = services.metrics.render()[0].decode()
    families = text_string_to_metric_families(text)
    return sum(s.value for f in families for s in f.samples if s.name == "dyngen_single_flight_waiters")


async def test_fifty_concurrent_identical_requests_share_one_generation(make: Make) -> None:
    services, provider = await make(hang=True)  # the first run holds until the other 49 wait on it

    requests = [asyncio.create_task(gen(services)) for _ in range(50)]
    await until(lambda: single_flight_waiters(services) == 49, what="49 requests to join the first one's flight")
    provider.release()
    responses = await asyncio.gather(*requests)

    assert len(provider.calls) == 1
    first = responses[0]
    assert all((r.generation_id, r.content) == (first.generation_id, first.content) for r in responses)
    leaders = [r for r in responses if not r.cache.hit]
    joiners = [r for r in responses if r.cache.hit]
    assert len(leaders) == 1
    assert leaders[0].cost.tokens > 0
    assert len(joiners) == 49
    assert all(r.cache == CacheInfo(hit=True, tier="single_flight") and r.cost.tokens == 0 for r in joiners)
    assert len(await records(services, cache_key=first.cache_key)) == 1


CONTRADICTORY = {
    "duration": {"min": 30, "max": 5, "target": 10},
    "constraints": {"requiredElements": ["rain"], "avoidElements": ["rain"]},
}
INVALID = ErrorCode.GEN_INVALID_CONFIG
REFUSED = {  # request fields, settings, error code, the findings (codes) or fields its details name
    "both-config-errors": (CONTRADICTORY, {}, INVALID, ["DURATION_RANGE_INVERTED", "ELEMENT_REQUIRED_AND_AVOIDED"]),
    "no-playthrough-id": ({"strategy": "per_playthrough"}, {}, INVALID, ["player_context.playthroughId"]),
    "simulate-without-dev-tools": (
        {"simulate": {"fail_with": "GEN_TIMEOUT"}},
        {"dev_tools": False},
        ErrorCode.FORBIDDEN,
        [],
    ),
}


@pytest.mark.parametrize(("fields", "settings", "code", "named"), REFUSED.values(), ids=REFUSED)
async def test_a_request_that_cannot_be_served_as_asked_is_refused_before_any_work(
    make: Make, fields: dict[str, Any], settings: dict[str, Any], code: ErrorCode, named: list[str]
) -> None:
    services, provider = await make(settings=settings)

    with pytest.raises(DyngenError) as caught:
        await gen(services, **fields)

    assert caught.value.code is code
    assert sorted(d.get("code", d.get("field")) for d in caught.value.details) == named
    assert (provider.calls, await records(services)) == ([], [])
    assert (await gen(services)).status is COMPLETE, "the node itself is served"


async def _invalidate(services: Services, **query: Any) -> list[str]:
    result = await invalidate(query=InvalidateRequest(**query), cache=services.cache, repository=services.repository)
    assert result.invalidated == len(result.keys)
    return result.keys


async def test_invalidating_a_node_regenerates_it_and_leaves_other_nodes_cached(make: Make) -> None:
    services, provider = await make()
    park = {"node_id": "n-park", "from_scene": {"id": "park"}}
    cafe1, park1 = await gen(services), await gen(services, **park)

    assert await _invalidate(services, node_id="n-cafe") == [cafe1.cache_key]

    cafe2, park2 = await gen(services), await gen(services, **park)
    assert (cafe2.cache.hit, cafe2.generation_id != cafe1.generation_id) == (False, True)
    assert (park2.cache.hit, park2.generation_id) == (True, park1.generation_id)
    assert len(provider.calls) == 3


@pytest.mark.parametrize("by", ["version", "cache_key"])
async def test_invalidating_a_version_or_a_key_regenerates_only_that_content(make: Make, by: str) -> None:
    services, provider = await make()
    v1, v2 = await gen(services), await gen(services, version=2)

    query = {"version": 1} if by == "version" else {"cache_key": v1.cache_key}
    assert await _invalidate(services, **query) == [v1.cache_key]

    again1, again2 = await gen(services), await gen(services, version=2)
    assert (again1.cache.hit, again1.generation_id != v1.generation_id) == (False, True)
    assert (again2.cache.hit, again2.generation_id) == (True, v2.generation_id)
    assert len(provider.calls) == 3


async def test_invalidating_with_an_empty_query_is_refused(make: Make) -> None:
    services, _ = await make()
    cached = await gen(services)

    with pytest.raises(DyngenError) as caught:
        await _invalidate(services)

    assert caught.value.code is ErrorCode.GEN_INVALID_CONFIG
    assert (await gen(services)).generation_id == cached.generation_id, "nothing was flushed"


async def test_content_is_served_when_the_record_cannot_be_written(
    make: Make, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    services, _ = await make()

    async def broken(record: GenerationRecord) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(services.repository, "add", broken)
    resp = await gen(services)

    assert seen(resp) == ("complete", None, None)
    assert resp.content is not None
    assert resp.content.dialogue
    assert "generation.record_failed" in caplog.text
    monkeypatch.undo()
    assert await records(services) == []


async def test_the_ports_are_built_once_and_a_field_set_after_build_is_heard(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, _ = await make()
    ports = generation_ports(services)
    assert generation_ports(services) is ports, "a request reads the bundle built at the first call"
    assert seen(await gen(services)) == ("complete", None, None)

    services.outbox = outbox = FakeRecordOutbox()  # after the first request: the bundle is built anew
    assert generation_ports(services) is not ports
    assert generation_ports(services).serving.runs.outbox is outbox

    async def broken(record: GenerationRecord) -> None:
        raise DyngenError(ErrorCode.DEPENDENCY_UNAVAILABLE, "the database is unreachable")

    monkeypatch.setattr(services.repository, "add", broken)
    resp = await gen(services, from_scene={"id": "bar"})
    assert [r.id for r in await outbox.waiting()] == [resp.generation_id], "the new outbox took the record"


async def test_a_record_the_database_cannot_take_waits_in_the_outbox_is_readable_and_lands_later(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, _ = await make()
    services.outbox = outbox = FakeRecordOutbox()

    async def broken(record: GenerationRecord) -> None:
        raise DyngenError(ErrorCode.DEPENDENCY_UNAVAILABLE, "the database is unreachable")

    monkeypatch.setattr(services.repository, "add", broken)
    resp = await gen(services)
    assert seen(resp) == ("complete", None, None)
    assert resp.generation_id is not None
    assert outbox.holding()
    # Later records queue behind it without asking the database.
    second = await gen(services, from_scene={"id": "bar"})
    assert second.generation_id is not None
    assert [r.id for r in await outbox.waiting()] == [resp.generation_id, second.generation_id]
    assert (
        await get_generation(generation_id=resp.generation_id, repository=services.repository, outbox=services.outbox)
    ).id == resp.generation_id

    monkeypatch.undo()
    assert await records(services) == []
    assert await replay_outbox(outbox=outbox, repository=services.repository, jobs=services.jobs, timeout_s=5) == 2
    assert not outbox.holding()
    assert {r.id for r in await records(services)} == {resp.generation_id, second.generation_id}
