"""`http_video` presets against fakes that follow Replicate's and fal's documented shapes: submit, poll,
result, cancel, resume, scene images in the body, extra headers, the SSRF rule on named URLs, and keys
that never reach errors or logs."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from dyngen.adapters.providers.http_video import HttpVideoProvider, HttpVideoSettings
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ProviderCall, RemoteJob
from tests.support.fake_vendors import FAL_KEY, TOKEN, VIDEO, FakeVendors, Job

Factory = Callable[..., HttpVideoProvider]
FAL_MODEL = "fal-ai/kling-video/v1/standard/image-to-video"
IMAGE = b"\x89PNG scene image"


@pytest.fixture(scope="module")
def vendors() -> Iterator[FakeVendors]:
    server = FakeVendors()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def make(vendors: FakeVendors) -> AsyncIterator[Factory]:
    vendors.script.reset()
    async with httpx.AsyncClient() as client:

        def factory(preset: str = "replicate", **overrides: Any) -> HttpVideoProvider:
            options: dict[str, Any] = {
                "preset": preset,
                "model": "owner/video-model" if preset == "replicate" else FAL_MODEL,
                "api_key": TOKEN if preset == "replicate" else FAL_KEY,
                "base_url": vendors.url,
                "poll_interval_s": 0.01,
                "private_hosts": ["127.0.0.1"],
                **overrides,
            }
            return HttpVideoProvider.from_settings(
                HttpVideoSettings.model_validate(options),
                client=client,
                sign_url=lambda name: f"https://dyngen.example/api/artifacts/{name}?exp=1&sig=abc",
            )

        yield factory


def call(deadline_s: float = 10.0, remote_job: RemoteJob | None = None) -> ProviderCall:
    request = GenerateContentRequest.model_validate(
        {
            "type": "transition",
            "from_scene": {"id": "cafe", "mood": "romantic", "image": "img-cafe"},
            "to_scene": {"id": "roof", "mood": "intense"},
            "duration": {"min": 2, "max": 8, "target": 5},
        }
    )
    return ProviderCall(
        request=request, seed=99, attempt=1, deadline_s=deadline_s, images={"img-cafe": IMAGE}, remote_job=remote_job
    )


async def test_replicate_official_model(make: Factory, vendors: FakeVendors) -> None:
    vendors.script.jobs.append(Job(polls=2))
    result = await make().generate(call())
    [sent] = vendors.script.submits
    assert sent["path"] == "/v1/models/owner/video-model/predictions"
    assert sent["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert sent["body"]["input"]["seed"] == 99
    assert sent["body"]["input"]["duration"] == 5
    assert sent["body"]["input"]["start_image"] == "https://dyngen.example/api/artifacts/img-cafe?exp=1&sig=abc"
    assert list(vendors.script.polls.values()) == [3], "polled through urls.get until succeeded"
    assert result.artifacts[0].data == VIDEO
    assert result.fingerprint.endswith("owner/video-model")


async def test_replicate_version_and_prefer_wait(make: Factory, vendors: FakeVendors) -> None:
    result = await make(
        model="owner/video-model:5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa", prefer_wait_s=30
    ).generate(call())
    [sent] = vendors.script.submits
    assert sent["path"] == "/v1/predictions"
    assert sent["body"]["version"].startswith("5c7d5dc6")
    assert sent["headers"]["prefer"] == "wait=30"
    assert vendors.script.polls == {}, "the prediction came back finished: nothing to poll"
    assert result.artifacts[0].data == VIDEO


async def test_replicate_list_output_takes_the_first_file(make: Factory, vendors: FakeVendors) -> None:
    vendors.script.jobs.append(Job(polls=0, output_list=True))
    assert (await make().generate(call())).artifacts[0].data == VIDEO


async def test_replicate_failure_names_the_reason(make: Factory, vendors: FakeVendors) -> None:
    vendors.script.jobs.append(Job(outcome="failed"))
    with pytest.raises(DyngenError) as caught:
        await make().generate(call())
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert "NSFW content detected" in caught.value.message
    assert vendors.script.cancels == []


@pytest.mark.parametrize(("preset", "method"), [("replicate", "POST"), ("fal", "PUT")])
async def test_a_deadline_cancels_through_the_vendors_cancel_url(
    make: Factory, vendors: FakeVendors, preset: str, method: str
) -> None:
    vendors.script.jobs.append(Job(outcome="slow"))
    with pytest.raises(DyngenError) as caught:
        await make(preset).generate(call(deadline_s=0.5))
    assert caught.value.code is ErrorCode.GEN_TIMEOUT
    [(sent_method, job_id)] = vendors.script.cancels
    assert sent_method == method
    assert job_id in vendors.script.running


@pytest.mark.parametrize("preset", ["replicate", "fal"])
async def test_a_job_known_only_by_id_is_resumed(make: Factory, vendors: FakeVendors, preset: str) -> None:
    provider = make(preset)
    vendors.script.jobs.append(Job(polls=1))
    job = await provider.submit(call())
    result = await provider.generate(call(remote_job=RemoteJob("http_video", job.id)))
    assert len(vendors.script.submits) == 1, "resumed, not submitted again"
    assert result.artifacts[0].data == VIDEO


async def test_fal_queue(make: Factory, vendors: FakeVendors) -> None:
    vendors.script.jobs.append(Job(polls=2))
    result = await make("fal").generate(call())
    [sent] = vendors.script.submits
    assert sent["path"] == f"/{FAL_MODEL}"
    assert sent["headers"]["authorization"] == f"Key {FAL_KEY}"
    assert sent["body"]["image_url"].startswith("https://dyngen.example/api/artifacts/img-cafe")
    assert sent["body"]["prompt"]
    assert list(vendors.script.polls.values()) == [3], "IN_QUEUE, IN_PROGRESS, COMPLETED"
    assert result.artifacts[0].data == VIDEO


async def test_fal_failure_is_provider_unavailable(make: Factory, vendors: FakeVendors) -> None:
    vendors.script.jobs.append(Job(polls=0, outcome="failed"))
    with pytest.raises(DyngenError) as caught:
        await make("fal").generate(call())
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE


async def test_image_b64_and_any_number_of_headers(make: Factory, vendors: FakeVendors) -> None:
    provider = make(
        body_template='{"img": {{from_image_b64}}, "end": {{to_image_url}}, "p": {{prompt}}}',
        headers={"X-Team": "studio", "X-Trace": "abc"},
    )
    await provider.generate(call())
    sent = vendors.script.submits[0]
    assert base64.b64decode(sent["body"]["input"]["img"]) == IMAGE
    assert sent["body"]["input"]["end"] is None, "the to-scene has no stored image"
    assert (sent["headers"]["x-team"], sent["headers"]["x-trace"]) == ("studio", "abc")


async def test_a_job_url_on_another_host_is_refused(make: Factory, vendors: FakeVendors) -> None:
    vendors.script.jobs.append(Job(job_host="http://attacker.example"))
    with pytest.raises(DyngenError) as caught:
        await make().generate(call())
    assert "another host" in caught.value.message, "the key is never sent to a host the answer names"


async def test_a_job_url_on_the_apis_host_but_another_private_port_is_refused(
    make: Factory, vendors: FakeVendors
) -> None:
    """The API's own host, another port (another local service): the key is not sent there."""
    vendors.script.jobs.append(Job(job_host="http://127.0.0.1:6379", polls=3))
    with pytest.raises(DyngenError) as caught:
        await make(private_hosts=[]).generate(call())
    assert "SSRF" in caught.value.message
    assert "loopback" in caught.value.message


@pytest.mark.parametrize("preset", ["replicate", "fal"])
async def test_results_on_another_private_host_need_it_named(make: Factory, vendors: FakeVendors, preset: str) -> None:
    """The API's own configured host and port may be private (the operator named it); a result the answer
    puts on another private host is refused until that host is named."""
    elsewhere = f"http://localhost:{vendors.port}"
    vendors.script.jobs.append(Job(result_base=elsewhere))
    with pytest.raises(DyngenError) as caught:
        await make(preset, private_hosts=[]).generate(call())
    assert "SSRF" in caught.value.message
    assert "'localhost'" in caught.value.message
    vendors.script.jobs.append(Job(result_base=elsewhere))
    assert (await make(preset, private_hosts=["localhost"]).generate(call())).artifacts[0].data == VIDEO


@pytest.mark.parametrize("preset", ["replicate", "fal"])
async def test_a_local_api_needs_no_key_to_reach_its_own_host(make: Factory, preset: str) -> None:
    """A preset pointed at a local server (base_url on 127.0.0.1): its own host and port pass the rule
    with no `private_hosts`, submit, status and result alike."""
    assert (await make(preset, private_hosts=[]).generate(call())).artifacts[0].data == VIDEO


async def test_keys_never_reach_errors_or_logs(make: Factory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for preset, wrong in (("replicate", "r8_wrong_token_abcdefgh"), ("fal", "fal-wrong-key-abcdefgh")):
        with pytest.raises(DyngenError) as caught:
            await make(preset, api_key=wrong).generate(call())
        assert "credentials" in caught.value.message
        assert wrong not in caught.value.message
        assert wrong not in caplog.text
    settings = HttpVideoSettings(preset="fal", model=FAL_MODEL, api_key=FAL_KEY)
    assert FAL_KEY not in repr(settings)
    assert FAL_KEY not in settings.model_dump_json()


def test_a_preset_needs_a_model() -> None:
    with pytest.raises(ValueError, match="needs a model"):
        HttpVideoSettings(preset="replicate")


async def test_a_failure_reason_echoing_the_key_is_scrubbed(make: Factory, vendors: FakeVendors) -> None:
    vendors.script.jobs.append(Job(outcome="failed", reason=f"quota exceeded for token {TOKEN}"))
    with pytest.raises(DyngenError) as caught:
        await make().generate(call())
    assert "quota exceeded" in caught.value.message
    assert TOKEN not in caught.value.message


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "streamed"])
async def test_a_result_over_the_size_cap_is_refused(make: Factory, vendors: FakeVendors, chunked: bool) -> None:
    vendors.script.jobs.append(Job(chunked=chunked))
    with pytest.raises(DyngenError) as caught:
        await make(max_bytes=len(VIDEO) - 1).generate(call())
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert f"larger than {len(VIDEO) - 1} bytes" in caught.value.message
    vendors.script.jobs.append(Job(chunked=chunked))
    assert (await make(max_bytes=len(VIDEO)).generate(call())).artifacts[0].data == VIDEO
