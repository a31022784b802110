"""Telemetry as an operator and the editor read it (spec section 12): `GET /metrics` parsed with
prometheus_client's own parser, in one process and summed over `dyngen serve --workers 2`; a node's
stats (the editor's badge); seed drift, logged with both hashes, counted, and reported to the caller."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app
from dyngen.ports import Clock, Provider
from tests.fakes import FakeClock, FakeProvider
from tests.support.servers import dyngen_server
from tests.support.waiting import until, wait_until

NODE = "cafe_to_roof"
ASYNC = {"Prefer": "respond-async"}


def body(playthrough: str, *, node: str = NODE, fail_with: str | None = None, latency_ms: int = 0) -> dict[str, Any]:
    """A game's transition request for one playthrough (the placeholder fallback: one attempt per call)."""
    request: dict[str, Any] = {
        "type": "transition",
        "node_id": node,
        "from_scene": {"id": "cafe", "mood": "romantic", "location": "corner_cafe"},
        "to_scene": {"id": "roof", "mood": "intense", "location": "city_rooftops"},
        "style": {"moodFrom": "romantic", "moodTo": "intense", "pacing": "medium"},
        "duration": {"min": 15, "max": 45, "target": 30},
        "constraints": {"rating": "PG-13", "requiredElements": ["phone_ring"], "avoidElements": ["violence"]},
        "strategy": "per_playthrough",
        "fallback": {"mode": "placeholder", "timeoutMs": 30_000},
        "player_context": {"playthroughId": playthrough},
    }
    simulate = {"fail_with": fail_with, "latency_ms": latency_ms or None}
    if any(simulate.values()):
        request["simulate"] = {k: v for k, v in simulate.items() if v is not None}
    return request


def parse(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when there are none)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


async def scrape(client: httpx.AsyncClient) -> list[Sample]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def generate(client: httpx.AsyncClient, request: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/generate-content", json=request)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def stats(client: httpx.AsyncClient, node: str = NODE) -> dict[str, Any]:
    response = await client.get(f"/api/nodes/{node}/stats")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def record(client: httpx.AsyncClient, generation_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/generations/{generation_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def job_complete(client: httpx.AsyncClient, job_id: str) -> dict[str, Any] | None:
    """The job once it is complete (None while it is queued or running; any other status fails)."""
    job: dict[str, Any] = (await client.get(f"/api/generation-jobs/{job_id}")).json()
    assert job["status"] in ("queued", "processing", "complete"), job
    return job if job["status"] == "complete" else None


@asynccontextmanager
async def serving(
    settings: Settings, provider: Provider | None = None, *, clock: Clock | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The API over services whose only (and default) provider is `provider` (default the installed
    ones); started (job runner, reaper) unless they run on an injected `clock`, whose sleeps would not wait."""
    name = provider.info.name if provider is not None else settings.default_provider
    own = settings.model_copy(update={"default_provider": name})
    services = await build(own, providers={name: provider} if provider is not None else None, clock=clock)
    if clock is None:
        await services.start()
    app = create_app(own, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            yield http
    finally:
        await services.aclose()


async def test_a_miss_then_a_hit_count_the_run_by_node_type_provider_and_outcome(client: httpx.AsyncClient) -> None:
    miss = await generate(client, body("pt-1"))
    hit = await generate(client, body("pt-1"))

    assert miss["cache"] == {"hit": False}
    assert hit["cache"] == {"hit": True, "tier": "memory"}
    samples = await scrape(client)
    run = {"node": NODE, "type": "transition", "provider": "builtin"}
    assert value(samples, "dyngen_generation_seconds_count", **run, outcome="complete") == 1
    assert value(samples, "dyngen_generation_seconds_count", **run) == 1  # the hit ran no provider
    assert value(samples, "dyngen_cache_requests_total", node=NODE, result="hit", tier="memory") == 1
    assert value(samples, "dyngen_cache_requests_total", node=NODE, result="miss") == 1
    assert value(samples, "dyngen_provider_calls_total", provider="builtin", outcome="ok") == 1
    assert value(samples, "dyngen_provider_calls_total") == 1
    assert value(samples, "dyngen_generation_tokens_total", node=NODE) == miss["cost"]["tokens"] > 0
    assert value(samples, "dyngen_generation_errors_total") == 0


async def test_a_forced_timeout_counts_as_an_error_and_in_the_histogram_under_its_code(
    client: httpx.AsyncClient,
) -> None:
    failed = await generate(client, body("pt-fail", fail_with="GEN_TIMEOUT"))

    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "GEN_TIMEOUT"
    samples = await scrape(client)
    assert value(samples, "dyngen_generation_errors_total", code="GEN_TIMEOUT") == 1
    assert value(samples, "dyngen_generation_errors_total") == 1
    assert value(samples, "dyngen_generation_seconds_count", node=NODE, outcome="GEN_TIMEOUT") == 1
    assert value(samples, "dyngen_generation_seconds_count", node=NODE, outcome="complete") == 0
    assert value(samples, "dyngen_provider_calls_total", provider="builtin", outcome="GEN_TIMEOUT") == 1


async def test_an_async_job_counts_its_events(client: httpx.AsyncClient) -> None:
    submitted = await client.post("/api/generate-content", json=body("pt-job"), headers=ASYNC)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]

    await until(lambda: job_complete(client, job_id), what=f"job {job_id} to complete")

    samples = await scrape(client)
    for event in ("queued", "started", "progress", "completed"):
        assert value(samples, "dyngen_job_events_total", type=event) == 1, event
    assert value(samples, "dyngen_job_events_total", type="failed") == 0


async def test_single_flight_waiters_are_counted_while_they_wait_and_return_to_zero(settings: Settings) -> None:
    provider = FakeProvider(hang=True)  # runs until released: the crowd joins it on any machine
    async with serving(settings, provider) as client:
        first = asyncio.create_task(generate(client, body("pt-crowd")))
        await until(lambda: len(provider.calls) == 1, what="the first request to reach the provider")
        crowd = [asyncio.create_task(generate(client, body("pt-crowd"))) for _ in range(4)]

        async def four_waiting() -> bool:
            return value(await scrape(client), "dyngen_single_flight_waiters") >= 4

        await until(four_waiting, what="the four waiters to show in the gauge")
        provider.release()
        answers = await asyncio.gather(first, *crowd)

        assert len(provider.calls) == 1
        assert {a["content"]["dialogue"][0] for a in answers} == {answers[0]["content"]["dialogue"][0]}
        assert value(await scrape(client), "dyngen_single_flight_waiters") == 0


async def test_node_stats_after_misses_hits_and_a_failure_match_the_records(client: httpx.AsyncClient) -> None:
    misses = [await generate(client, body(f"pt-{i}", latency_ms=20 * i)) for i in range(3)]
    hits = [await generate(client, body(f"pt-{i}")) for i in range(3)]
    failure = await generate(client, body("pt-doomed", fail_with="GEN_TIMEOUT"))
    await generate(client, body("pt-elsewhere", node="other_node"))  # another node's run is not this one's

    assert [m["cache"]["hit"] for m in misses] == [False] * 3
    assert [h["cache"]["hit"] for h in hits] == [True] * 3
    latencies = sorted([(await record(client, m["generation_id"]))["latency_ms"] for m in misses])
    assert latencies[2] >= 40  # the simulated latency counts
    assert await stats(client) == {
        "node_id": NODE,
        "generations": 4,
        "last_latency_ms": (await record(client, failure["generation_id"]))["latency_ms"],
        "p50_latency_ms": latencies[1],
        "p95_latency_ms": latencies[2],
        "cache_hits": 3,
        "cache_misses": 3,
        "cost_tokens": sum(m["cost"]["tokens"] for m in misses),
        "cost": 0.0,  # the built-in provider is free
        "errors": {"GEN_TIMEOUT": 1},
        "mean_quality_score": round(sum(m["content"]["metadata"]["quality_score"] for m in misses) / len(misses), 4),
        "reviews": 0,
    }


async def test_node_stats_of_a_node_never_served_are_zeros_and_nulls(client: httpx.AsyncClient) -> None:
    await generate(client, body("pt-1"))

    found = await stats(client, "never_served")

    assert found["node_id"] == "never_served"
    assert (found["generations"], found["cache_hits"], found["cache_misses"], found["cost_tokens"]) == (0, 0, 0, 0)
    assert found["errors"] == {}
    for latency in ("last_latency_ms", "p50_latency_ms", "p95_latency_ms"):
        assert found.get(latency) is None, latency


async def test_p50_of_two_generations_is_the_lower_latency(settings: Settings) -> None:
    # Latencies on an injected clock: the simulated 50 ms is exact and nothing else takes time, so which
    # run is the slower one does not depend on how busy the machine is.
    async with serving(settings, clock=FakeClock()) as client:
        fast = await generate(client, body("pt-fast"))
        slow = await generate(client, body("pt-slow", latency_ms=50))

        fast_ms = (await record(client, fast["generation_id"]))["latency_ms"]
        slow_ms = (await record(client, slow["generation_id"]))["latency_ms"]
        found = await stats(client)

    assert fast_ms < slow_ms
    assert found["p95_latency_ms"] == slow_ms
    assert found["p50_latency_ms"] == fast_ms


async def test_an_async_job_served_from_the_cache_counts_as_a_hit(client: httpx.AsyncClient) -> None:
    await generate(client, body("pt-shared"))
    submitted = await client.post("/api/generate-content", json=body("pt-shared"), headers=ASYNC)
    job_id = submitted.json()["job_id"]
    await until(lambda: job_complete(client, job_id), what=f"job {job_id} to complete")

    found = await stats(client)

    assert (found["cache_hits"], found["cache_misses"]) == (1, 1)


async def test_seed_drift_is_logged_with_both_hashes_counted_and_marks_the_content_nondeterministic(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    provider = FakeProvider()
    async with serving(settings, provider) as client:
        first = await generate(client, body("pt-drift"))
        provider.mention = "Worded another way this time."  # same seed, other content: the provider drifted
        dropped = await client.post("/api/cache/invalidate", json={"cache_key": first["cache_key"]})
        assert dropped.status_code == 200, dropped.text
        caplog.set_level(logging.WARNING, logger="dyngen.generation")

        second = await generate(client, body("pt-drift"))

        assert second["cache"]["hit"] is False
        assert second["seed"] == first["seed"]
        assert first["deterministic"] is True
        assert second["deterministic"] is False
        assert (await record(client, second["generation_id"]))["deterministic"] is False
        samples = await scrape(client)
        assert value(samples, "dyngen_seed_drift_total", node=NODE) == 1
        hashes = [(await record(client, g["generation_id"]))["content_hash"] for g in (first, second)]
    drift = [r.getMessage() for r in caplog.records if r.getMessage().startswith("generation.seed_drift")]
    assert len(drift) == 1
    assert f"previous_hash={hashes[0]}" in drift[0]
    assert f" hash={hashes[1]}" in drift[0]
    assert hashes[0] != hashes[1]


async def test_an_honest_provider_regenerating_the_same_content_stays_deterministic(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    provider = FakeProvider()
    caplog.set_level(logging.WARNING, logger="dyngen.generation")
    async with serving(settings, provider) as client:
        first = await generate(client, body("pt-honest"))
        dropped = await client.post("/api/cache/invalidate", json={"cache_key": first["cache_key"]})
        assert dropped.status_code == 200, dropped.text

        second = await generate(client, body("pt-honest"))

        assert second["cache"]["hit"] is False
        assert len(provider.calls) == 2
        assert (first["deterministic"], second["deterministic"]) == (True, True)
        assert (await record(client, second["generation_id"]))["deterministic"] is True
        assert value(await scrape(client), "dyngen_seed_drift_total") == 0
    assert not [r for r in caplog.records if "seed_drift" in r.getMessage()]


def test_with_two_api_processes_every_scrape_sums_the_misses_of_both(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server, base = dyngen_server(tmp_path, {"DYNGEN_DATA_DIR": str(data)}, workers=2)
    try:
        sent = 0

        def generate_fresh(playthrough: str) -> dict[str, Any]:
            # A client of its own per call: a new connection, which either process may accept.
            response = httpx.post(f"{base}/api/generate-content", json=body(playthrough), timeout=30)
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            return answer

        def both_processes_served() -> bool:
            nonlocal sent
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(generate_fresh, [f"pt-{sent + i}" for i in range(20)]))
            sent += len(answers)
            assert all(a["cache"] == {"hit": False} for a in answers)
            # Each process that counted something has its own file in the shared folder.
            return len(list((data / "metrics").glob("counter_*.db"))) >= 2

        wait_until(both_processes_served, what="both API processes to serve requests")

        for _ in range(10):
            samples = parse(httpx.get(f"{base}/metrics", timeout=30).text)
            assert value(samples, "dyngen_cache_requests_total", node=NODE, result="miss") == sent
            assert value(samples, "dyngen_generation_seconds_count", node=NODE, outcome="complete") == sent
            node = httpx.get(f"{base}/api/nodes/{NODE}/stats", timeout=30).json()
            assert (node["cache_misses"], node["generations"]) == (sent, sent)
    finally:
        server.stop()
