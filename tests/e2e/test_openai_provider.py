"""The OpenAI-compatible provider over real HTTP, against a small protocol server on loopback."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.adapters.providers import openai as openai_module
from dyngen.adapters.providers.http_transport import AiohttpTransport, ProviderClient
from dyngen.adapters.providers.openai import OpenAIProvider
from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports
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


@pytest.fixture(params=["httpx", "server"])
def new_client(request: pytest.FixtureRequest) -> Callable[[], httpx.AsyncClient]:
    """A plain httpx client, and the server's own (`ProviderClient`: aiohttp's wire, a guarded call handed
    straight to it): every call below goes the same way through either."""
    if request.param == "server":
        return lambda: ProviderClient(transport=AiohttpTransport(), timeout=30)
    return httpx.AsyncClient


@pytest.fixture
async def provider(server: OpenAIServer, new_client: Callable[[], httpx.AsyncClient]) -> AsyncIterator[OpenAIProvider]:
    server.script.answers.clear()
    server.script.requests.clear()
    server.script.refused_formats.clear()
    server.script.refused_parameters.clear()
    async with new_client() as client:
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


async def test_a_compressed_answer_is_read_as_any_other(provider: OpenAIProvider, server: OpenAIServer) -> None:
    server.script.answers.append("gzip")  # what hosted APIs send a client that accepts gzip, as httpx does
    result = await provider.generate(call())
    assert [b.speaker for b in result.payload.beats or []] == [None, "Mara", None]
    assert result.tokens == 150


async def test_a_reasoning_models_thinking_and_a_code_fence_around_the_answer_are_taken_away(
    provider: OpenAIProvider, server: OpenAIServer
) -> None:
    server.script.answers.append("wrapped")  # DeepSeek-R1 or Qwen3 through Ollama: <think>...</think> ```json
    result = await provider.generate(call())
    assert [b.speaker for b in result.payload.beats or []] == [None, "Mara", None]
    assert len(server.script.requests) == 1, "read at the first answer, not asked again"


def _formats_of(request: dict[str, Any]) -> str | None:
    return (request["body"].get("response_format") or {}).get("type")


def _formats(server: OpenAIServer) -> list[str | None]:
    return [_formats_of(r) for r in server.script.requests]


async def test_a_server_that_refuses_the_schema_is_asked_for_a_json_object_from_then_on(
    provider: OpenAIProvider, server: OpenAIServer
) -> None:
    server.script.refused_formats.add("json_schema")  # DeepSeek's API: json_object only
    first = await provider.generate(call())
    second = await provider.generate(call())
    assert [b.speaker for b in first.payload.beats or []] == [None, "Mara", None]
    assert second.payload.beats == first.payload.beats
    assert _formats(server) == ["json_schema", "json_object", "json_object"], "refused once, then remembered"
    assert "JSON object" in server.script.requests[1]["body"]["messages"][0]["content"], "json_object's condition"


async def test_a_server_that_refuses_both_json_ways_is_asked_with_the_prompt_alone(
    provider: OpenAIProvider, server: OpenAIServer
) -> None:
    server.script.refused_formats.update({"json_schema", "json_object"})
    result = await provider.generate(call())
    assert result.tokens == 150
    assert _formats(server) == ["json_schema", "json_object", None]


async def test_a_setting_the_model_refuses_is_left_out_from_then_on(
    provider: OpenAIProvider, server: OpenAIServer
) -> None:
    server.script.refused_parameters.add("temperature")  # OpenAI's reasoning models: the default temperature only
    server.script.refused_formats.add("json_schema")
    await provider.generate(call())
    await provider.generate(call())
    sent = [(r["body"].get("temperature"), _formats_of(r)) for r in server.script.requests]
    assert sent == [(0.8, "json_schema"), (None, "json_schema"), (None, "json_object"), (None, "json_object")]
    assert all(r["body"]["seed"] == 1234 for r in server.script.requests), "only what was refused is left out"


async def test_a_400_about_anything_else_is_not_asked_again(provider: OpenAIProvider, server: OpenAIServer) -> None:
    server.script.answers.append("400")
    with pytest.raises(DyngenError, match="answered 400"):
        await provider.generate(call())
    assert _formats(server) == ["json_schema"]


async def test_an_answer_given_as_parts_is_read_from_its_text_parts(
    provider: OpenAIProvider, server: OpenAIServer
) -> None:
    server.script.answers.append("parts")  # Mistral's reasoning models: a thinking part, then the text
    result = await provider.generate(call())
    assert [b.speaker for b in result.payload.beats or []] == [None, "Mara", None]


async def test_a_refusal_is_empty_output_that_says_so(provider: OpenAIProvider, server: OpenAIServer) -> None:
    server.script.answers.append("refusal")
    with pytest.raises(DyngenError, match="the model refused: I can't help with that scene") as caught:
        await provider.generate(call())
    assert caught.value.code is ErrorCode.GEN_EMPTY_OUTPUT


@pytest.mark.parametrize("kind", ["400-echo", "400-deep", "400-format"])
async def test_a_400_about_one_request_changes_nothing_for_the_next(
    provider: OpenAIProvider, server: OpenAIServer, kind: str
) -> None:
    # A validation error repeating the request names every parameter sent; a body too deep to parse; a
    # refusal of the schema for one request whose retry is refused too (then it was not the format).
    server.script.answers[:] = [kind, "400"] if kind == "400-format" else [kind]
    with pytest.raises(DyngenError, match="answered 400"):
        await provider.generate(call())
    await provider.generate(call())
    last = server.script.requests[-1]["body"]
    assert (last["temperature"], last["seed"], _formats_of(server.script.requests[-1])) == (0.8, 1234, "json_schema")
    assert len(server.script.requests) == (3 if kind == "400-format" else 2)


async def test_an_empty_refusal_is_asked_again_as_malformed_output(
    provider: OpenAIProvider, server: OpenAIServer
) -> None:
    server.script.answers[:] = ["refusal-empty", "refusal-empty"]
    with pytest.raises(DyngenError, match="not the JSON asked for, twice"):
        await provider.generate(call())


async def test_malformed_output_is_asked_for_once_more(provider: OpenAIProvider, server: OpenAIServer) -> None:
    server.script.answers[:] = ["bad-json", "ok"]
    result = await provider.generate(call())
    assert result.payload.beats
    assert len(server.script.requests) == 2
    assert result.tokens == 300, "both calls' tokens count"


async def test_the_request_asked_again_gets_what_is_left_of_the_calls_deadline(
    provider: OpenAIProvider, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One deadline for every request of a call: the second must not outlive the caller's deadline, or a cut-off
    # call would go on upstream (a plain-http call cannot be stopped once sent, adapters/providers/plain_wire.py).
    bounds: list[float] = []
    send = openai_module.guarded_request

    async def bounded(*args: Any, timeout_s: float, **kwargs: Any) -> Any:
        bounds.append(timeout_s)
        return await send(*args, timeout_s=timeout_s, **kwargs)

    monkeypatch.setattr(openai_module, "guarded_request", bounded)
    server.script.answers[:] = ["bad-json", "ok"]
    await provider.generate(call())
    assert len(bounds) == 2
    assert bounds[1] < bounds[0] <= call().deadline_s


async def test_no_request_is_started_once_the_calls_deadline_has_passed(
    provider: OpenAIProvider, server: OpenAIServer
) -> None:
    with pytest.raises(DyngenError) as raised:
        await provider.generate(dataclasses.replace(call(), deadline_s=0.0))
    assert raised.value.code is ErrorCode.GEN_TIMEOUT
    assert server.script.requests == []


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


async def test_an_unreachable_endpoint_is_provider_unavailable(new_client: Callable[[], httpx.AsyncClient]) -> None:
    async with new_client() as client:
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


# --- the SSRF rule and the size cap (issue 16 item 5) -------------------------------------------------


async def test_a_local_server_is_reached_with_no_private_hosts_key(server: OpenAIServer, tmp_path: Path) -> None:
    """A local Ollama-like server at 127.0.0.1, configured as an instance with no `private_hosts`: its own
    host and port pass the rule (the operator named them in the section)."""
    settings = Settings(
        data_dir=tmp_path / "data",
        providers={"local": {"kind": "openai", "base_url": server.base_url, "model": "test-model"}},
    )
    services = await build(settings)
    try:
        request = call(provider="local").request.model_copy(update={"player_context": None})
        response = await generate_content(request=request, ports=generation_ports(services))
        assert response.status == "complete", response.error
        assert response.provider == "local"
    finally:
        await services.aclose()


async def test_a_redirect_to_another_private_host_is_refused(provider: OpenAIProvider, server: OpenAIServer) -> None:
    """The configured host may be private; a redirect to another private name (the same machine as
    `localhost`) is not followed: the SSRF rule refuses it, and the key goes nowhere else."""
    elsewhere = f"http://localhost:{server.port}/v1/chat/completions"
    server.script.answers[:] = [f"redirect:{elsewhere}"]
    with pytest.raises(DyngenError) as caught:
        await provider.generate(call())
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert "SSRF" in caught.value.message
    assert "'localhost'" in caught.value.message
    assert len(server.script.requests) == 1, "the redirect was not followed"


async def test_a_redirect_is_followed_on_the_own_origin_and_to_a_named_host(
    server: OpenAIServer, new_client: Callable[[], httpx.AsyncClient]
) -> None:
    server.script.answers[:] = [f"redirect:{server.base_url}/chat/completions?again=1", "ok"]
    server.script.requests.clear()
    async with new_client() as client:
        same = OpenAIProvider(base_url=server.base_url, model="m", api_key="sk-test", client=client)
        assert (await same.generate(call())).payload.beats
        assert [r["authorization"] for r in server.script.requests] == ["Bearer sk-test"] * 2

        server.script.answers[:] = [f"redirect:http://localhost:{server.port}/v1/chat/completions", "ok"]
        server.script.requests.clear()
        named = OpenAIProvider(
            base_url=server.base_url, model="m", api_key="sk-test", client=client, private_hosts=["localhost"]
        )
        assert (await named.generate(call())).payload.beats
    first, second = server.script.requests
    assert first["authorization"] == "Bearer sk-test"
    assert second["host"].startswith("localhost")
    assert second["authorization"] is None, "the key does not follow a redirect to another origin"


@pytest.mark.parametrize("answer", ["big", "big-stream"], ids=["declared", "streamed"])
async def test_an_answer_over_max_bytes_is_refused(
    server: OpenAIServer, answer: str, new_client: Callable[[], httpx.AsyncClient]
) -> None:
    server.script.answers[:] = [answer]
    server.script.big_bytes = 64 * 1024
    async with new_client() as client:
        capped = OpenAIProvider(base_url=server.base_url, model="m", client=client, max_bytes=32 * 1024)
        with pytest.raises(DyngenError) as caught:
            await capped.generate(call())
        assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
        assert caught.value.message == f"the model's answer is larger than {32 * 1024} bytes"

        server.script.answers[:] = [answer]
        roomy = OpenAIProvider(base_url=server.base_url, model="m", client=client, max_bytes=128 * 1024)
        assert (await roomy.generate(call())).payload.beats, "under the cap, the padded answer is used"


async def test_the_default_cap_refuses_an_answer_of_megabytes(
    server: OpenAIServer, tmp_path: Path, new_client: Callable[[], httpx.AsyncClient]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", openai_base_url=server.base_url, openai_model="m")
    assert settings.openai_max_bytes == 4 * 1024 * 1024, "a few MB: a chat completion is a few kB"
    server.script.answers[:] = ["big-stream"]
    server.script.big_bytes = settings.openai_max_bytes + 1
    async with new_client() as client:
        with pytest.raises(DyngenError, match="larger than"):
            await OpenAIProvider(base_url=server.base_url, model="m", client=client).generate(call())
