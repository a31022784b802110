"""Fallback chains through the API: the record says which member answered, a member that keeps failing
cools down (in every process, with Redis), and `GET /api/health` shows the cooldown's reason and expiry."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from dyngen.adapters.providers.builtin import BuiltinProvider
from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain.errors import ErrorCode
from dyngen.entrypoints.api.app import create_app
from dyngen.ports import Provider
from dyngen.services.machinery.container import Services
from tests.fakes import FakeProvider

T = ErrorCode.GEN_TIMEOUT
COOLING = re.compile(
    r"flaky cooling down until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00): 2 failures in 60 s \(GEN_TIMEOUT\)"
)


def chained(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "provider_chains": {"main": ["flaky", "builtin"]},
            "default_provider": "main",
            "breaker_failures": 2,
            "breaker_window_s": 60.0,
            "breaker_cooldown_s": 120.0,
        }
        | changes
    )


@asynccontextmanager
async def api(settings: Settings, providers: dict[str, Provider]) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    services = await build(settings, providers=providers)
    await services.start()
    app = create_app(settings, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            yield http, services
    finally:
        await services.aclose()


def dialogue(playthrough: str, **changes: Any) -> dict[str, Any]:
    return {
        "type": "dialogue",
        "node_id": "cafe_to_rooftop",
        "from_scene": {"id": "cafe_date", "mood": "romantic"},
        "to_scene": {"id": "rooftop_chase", "mood": "intense"},
        "strategy": "per_playthrough",
        "fallback": {"mode": "placeholder", "timeoutMs": 10_000},
        "player_context": {"playthroughId": playthrough},
    } | changes


async def answered_by(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    """Generate; return the recorded provider_fingerprint (which member answered)."""
    response = await client.post("/api/generate-content", json=body)
    assert response.status_code == 200, response.text
    generated = response.json()
    assert generated["status"] == "complete", generated
    record = (await client.get(f"/api/generations/{generated['generation_id']}")).json()
    assert record["provider"] == "main"
    fingerprint: str = record["provider_fingerprint"]
    member = fingerprint.removeprefix("chain:main>").split("/")[0]
    assert generated["provider"] == member, "the response names the member that answered"
    return fingerprint


async def provider_health(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/health")
    assert response.status_code == 200, response.text
    providers: dict[str, Any] = response.json()["providers"]
    return providers


async def test_the_record_names_the_member_that_answered(settings: Settings) -> None:
    flaky = FakeProvider(failures=[T], name="flaky")
    async with api(chained(settings), {"flaky": flaky, "builtin": BuiltinProvider()}) as (client, _):
        assert await answered_by(client, dialogue("pt-1")) == "chain:main>builtin/builtin-text/2"
        assert await answered_by(client, dialogue("pt-2")) == "chain:main>flaky/fake/1"


async def test_a_failing_member_cools_down_and_health_shows_reason_and_expiry(settings: Settings) -> None:
    flaky = FakeProvider(failures=[T, T, T], name="flaky")
    async with api(chained(settings), {"flaky": flaky, "builtin": BuiltinProvider()}) as (client, _):
        assert (await provider_health(client))["main"] == {"status": "ok", "latency_ms": pytest.approx(0, abs=1000)}
        for playthrough in ("pt-1", "pt-2"):
            assert await answered_by(client, dialogue(playthrough)) == "chain:main>builtin/builtin-text/2"

        assert await answered_by(client, dialogue("pt-3")) == "chain:main>builtin/builtin-text/2"
        assert len(flaky.calls) == 2, "a member in cooldown is not asked"

        health = (await provider_health(client))["main"]
        assert health["status"] == "ok", "the chain still answers through builtin"
        assert COOLING.fullmatch(health["detail"]), health


async def test_a_request_and_a_generation_type_may_name_a_chain(settings: Settings) -> None:
    flaky = FakeProvider(failures=[T], name="flaky")
    chain_by_type = chained(settings, default_provider="builtin", providers_by_type={"dialogue": "main"})
    async with api(chain_by_type, {"flaky": flaky, "builtin": BuiltinProvider()}) as (client, _):
        assert await answered_by(client, dialogue("pt-1")) == "chain:main>builtin/builtin-text/2"
        assert (
            await answered_by(client, dialogue("pt-2", type="environment", provider="main"))
            == "chain:main>flaky/fake/1"
        )


async def test_a_chain_naming_an_unknown_provider_stops_the_start(settings: Settings) -> None:
    broken = chained(settings, provider_chains={"main": ["openai", "builtin"]})

    with pytest.raises(ValueError, match="provider chain 'main' names unknown provider\\(s\\) 'openai'"):
        await build(broken, providers={"builtin": BuiltinProvider()})


async def test_with_redis_every_process_skips_a_cooling_member(
    settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    scaled = chained(settings, redis_url=redis_url, redis_prefix=redis_prefix)
    flaky_one, flaky_two = FakeProvider(failures=[T, T], name="flaky"), FakeProvider(name="flaky")
    async with (
        api(scaled, {"flaky": flaky_one, "builtin": BuiltinProvider()}) as (one, _),
        api(scaled, {"flaky": flaky_two, "builtin": BuiltinProvider()}) as (two, _),
    ):
        for playthrough in ("pt-1", "pt-2"):
            assert await answered_by(one, dialogue(playthrough)) == "chain:main>builtin/builtin-text/2"

        assert COOLING.fullmatch((await provider_health(two))["main"]["detail"])
        assert await answered_by(two, dialogue("pt-3")) == "chain:main>builtin/builtin-text/2"
        assert flaky_two.calls == [], "the other process does not ask the member in cooldown either"
