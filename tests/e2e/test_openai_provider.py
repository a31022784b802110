"""The OpenAI-compatible provider over real HTTP, against a small protocol server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from dyngen.adapters.providers.openai import OpenAIProvider
from dyngen.bootstrap import build, generation_ports
from dyngen.config import Settings
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.elements import violations
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ProviderCall
from dyngen.services.generation.front_door import generate_content
from tests.support.openai_server import OpenAIServer


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    running = OpenAIServer()
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def provider(server: OpenAIServer) -> AsyncIterator[OpenAIProvider]:
    server.script.answers.clear()
    server.script.requests.clear()
    async with httpx.AsyncClient() as client:
        yield OpenAIProvider(base_url=server.base_url, model="test-model", api_key="sk-test", client=client)


def call(**extra: object) -> ProviderCall:
    request = GenerateContentRequest.model_validate(
        {
            "type": "transition",
            "from_scene": {"id": "cafe", "mood": "romantic", "summary": "A late coffee."},
            "to_scene": {"id": "roof", "mood": "intense"},
            "duration": {"min": 10, "max": 40, "target": 30},
            "constraints": {"rating": "PG-13", "requiredElements": ["phone_ring", "kiss"], "avoidElements": ["gore"]},
            "social_context": {"relationshipTierId": "friend", "intimacyBand": "light"},
            **extra,
        }
    )
    return ProviderCall(request=request, seed=1234, attempt=1, deadline_s=3.0)


async def test_a_completion_becomes_timed_beats_with_choices_and_tokens(
    provider: OpenAIProvider, server: OpenAIServer
) -> None:
    result = await provider.generate(call())
    beats = result.payload.beats or []
    assert [b.speaker for b in beats] == [None, "Mara", None]
    assert abs(sum(b.duration for b in beats) - 30) < 1e-6
    assert result.payload.choices is not None
    assert [c.id for c in result.payload.choices] == ["c1", "c2"]
    assert result.tokens == 150
    assert result.fingerprint == "openai:test-model"
    assert violations(result.payload, call().request.constraints) == []
    sent = server.script.requests[0]
    assert sent["authorization"] == "Bearer sk-test"
    assert sent["body"]["seed"] == 1234
    system, user = (m["content"] for m in sent["body"]["messages"])
    assert "content rating PG-13" in system
    assert "warmth and light flirting at most" in system
    assert "phone ring, kiss" in user
    assert "cafe" not in user.replace("Cafe", ""), "a scene without a title is named in words, never by its id"


async def test_malformed_output_is_asked_for_once_more(provider: OpenAIProvider, server: OpenAIServer) -> None:
    server.script.answers[:] = ["bad-json", "ok"]
    result = await provider.generate(call())
    assert result.payload.beats
    assert len(server.script.requests) == 2
    assert result.tokens == 300, "both calls' tokens count"


async def test_malformed_twice_is_empty_output(provider: OpenAIProvider, server: OpenAIServer) -> None:
    server.script.answers[:] = ["bad-json", "bad-json"]
    with pytest.raises(DyngenError) as caught:
        await provider.generate(call())
    assert caught.value.code is ErrorCode.GEN_EMPTY_OUTPUT


@pytest.mark.parametrize(
    ("answer", "code", "retryable"),
    [
        ("429", ErrorCode.GEN_PROVIDER_UNAVAILABLE, True),
        ("503", ErrorCode.GEN_PROVIDER_UNAVAILABLE, True),
        ("401", ErrorCode.GEN_PROVIDER_UNAVAILABLE, True),
        ("slow", ErrorCode.GEN_TIMEOUT, True),
    ],
)
async def test_http_failures_map_to_error_codes(
    provider: OpenAIProvider, server: OpenAIServer, answer: str, code: ErrorCode, retryable: bool
) -> None:
    server.script.answers[:] = [answer]
    slow = ProviderCall(request=call().request, seed=1, attempt=1, deadline_s=0.5)
    with pytest.raises(DyngenError) as caught:
        await provider.generate(slow)
    assert caught.value.code is code
    assert caught.value.code.retryable is retryable


async def test_an_unreachable_endpoint_is_provider_unavailable() -> None:
    async with httpx.AsyncClient() as client:
        dead = OpenAIProvider(base_url="http://127.0.0.1:9/v1", model="m", client=client)
        with pytest.raises(DyngenError) as caught:
            await dead.generate(call())
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE


async def test_health_reads_the_models_listing(provider: OpenAIProvider) -> None:
    await provider.health()


async def test_settings_enable_the_provider_for_the_whole_service(server: OpenAIServer, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", openai_base_url=server.base_url, openai_model="test-model")
    services = await build(settings)
    try:
        assert "openai" in services.providers.names()
        request = call(provider="openai").request.model_copy(update={"player_context": None})
        response = await generate_content(request=request, ports=generation_ports(services))
        assert response.status == "complete"
        assert response.provider == "openai"
        assert response.cost.tokens == 150
    finally:
        await services.aclose()


async def test_without_a_base_url_the_provider_is_not_loaded(tmp_path: Path) -> None:
    services = await build(Settings(data_dir=tmp_path / "data"))
    try:
        assert "openai" not in services.providers.names()
    finally:
        await services.aclose()
