"""The async video-API provider over real HTTP, against a small protocol server on loopback: submit, poll,
download, cancel, error mapping, and the SSRF rule on result URLs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dyngen.adapters.providers.http_transport import AiohttpTransport, ProviderClient
from dyngen.adapters.providers.http_video import HttpVideoProvider, check_url, render_body
from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports, job_ports, job_runner, preparer
from dyngen.config import Settings
from dyngen.domain.contracts import GenerateContentRequest, PayloadType
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ProviderCall, RemoteJobProvider
from dyngen.services.generation.front_door import generate_content
from dyngen.services.jobs import lifecycle as jobs
from tests.support.video_api_server import VIDEO, Job, VideoApiServer

Factory = Callable[..., HttpVideoProvider]


@pytest.fixture(scope="module")
def server() -> Iterator[VideoApiServer]:
    running = VideoApiServer()
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def make(server: VideoApiServer) -> AsyncIterator[Factory]:
    server.script.reset()
    # The server's own client (aiohttp's wire, guarded calls handed straight to it), as bootstrap makes it.
    async with ProviderClient(transport=AiohttpTransport(), timeout=5) as client:

        def factory(**overrides: object) -> HttpVideoProvider:
            options: dict[str, object] = {
                "submit_url": f"{server.base_url}/v1/jobs",
                "status_url": f"{server.base_url}/v1/jobs/{{id}}",
                "cancel_url": f"{server.base_url}/v1/jobs/{{id}}/cancel",
                "body_template": '{"input": {"text": "{{prompt}}", "seed": {{seed}}, "seconds": {{duration}}, '
                '"moods": [{{mood_from}}, {{mood_to}}]}}',
                "auth_header": "Authorization: Bearer vk-secret",
                "poll_interval_s": 0.02,
                "id_path": "data.id",
                "status_path": "state",
                "result_path": "output.url",
                "client": client,
                **overrides,
            }
            return HttpVideoProvider(**options)  # type: ignore[arg-type]

        yield factory


def call(deadline_s: float = 5.0, **extra: object) -> ProviderCall:
    request = GenerateContentRequest.model_validate(
        {
            "type": "transition",
            "from_scene": {"id": "cafe", "mood": "romantic", "summary": "A late coffee."},
            "to_scene": {"id": "roof", "mood": "intense"},
            "duration": {"min": 4, "max": 10, "target": 6},
            "constraints": {"rating": "PG-13", "requiredElements": ["phone_ring"], "avoidElements": ["gore"]},
            **extra,
        }
    )
    return ProviderCall(request=request, seed=1234, attempt=1, deadline_s=deadline_s)


async def test_a_finished_job_becomes_the_video_artifact(make: Factory, server: VideoApiServer) -> None:
    server.script.jobs.append(Job(polls=2))
    result = await make().generate(call())
    assert result.payload.type is PayloadType.VIDEO
    assert result.payload.duration == 6
    [video] = result.artifacts
    assert video.primary
    assert video.media_type == "video/mp4"
    assert video.data == VIDEO
    assert result.fingerprint == "http_video:127.0.0.1"
    sent = server.script.submits[0]
    assert sent["authorization"] == "Bearer vk-secret"
    body = sent["body"]["input"]
    assert body["seed"] == 1234
    assert body["seconds"] == 6
    assert body["moods"] == ["romantic", "intense"]
    assert body["text"].startswith("Cafe, romantic: A late coffee."), "the scene named in words, not by id"
    assert "phone ring" in body["text"]
    assert "gore" in body["text"]
    assert list(server.script.polls.values()) == [3], "done after two 'running' answers"
    assert server.script.cancels == []


async def test_cost_is_the_price_per_second_times_the_duration(make: Factory, server: VideoApiServer) -> None:
    server.script.jobs.append(Job(polls=0))
    provider = make(cost_per_second=0.05)

    assert provider.estimate_cost(call().request) == pytest.approx(0.3), "6 s at 0.05 a second, before the call"
    assert (await provider.generate(call())).cost == pytest.approx(0.3)


async def test_a_failed_remote_job_is_provider_unavailable_with_its_reason(
    make: Factory, server: VideoApiServer
) -> None:
    server.script.jobs.append(Job(outcome="failed", reason="content policy violation"))
    with pytest.raises(DyngenError) as caught:
        await make().generate(call())
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert "content policy violation" in caught.value.message
    assert server.script.cancels == [], "a job that ended upstream is not cancelled"


@pytest.mark.parametrize("status", ["429", "503", "401"])
async def test_submit_refusals_are_provider_unavailable(make: Factory, server: VideoApiServer, status: str) -> None:
    server.script.jobs.append(Job(outcome=status))
    with pytest.raises(DyngenError) as caught:
        await make().generate(call())
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert caught.value.code.retryable
    assert status in caught.value.message


async def test_a_job_past_the_deadline_times_out_and_is_cancelled_upstream(
    make: Factory, server: VideoApiServer
) -> None:
    server.script.jobs.append(Job(outcome="slow"))
    with pytest.raises(DyngenError) as caught:
        await make().generate(call(deadline_s=0.4))
    assert caught.value.code is ErrorCode.GEN_TIMEOUT
    [job_id] = server.script.running
    assert server.script.cancels == [job_id]
    assert server.script.polls[job_id] >= 2, "it polled until the deadline"


async def test_cancelling_the_generation_cancels_the_remote_job(make: Factory, server: VideoApiServer) -> None:
    server.script.jobs.append(Job(outcome="slow"))
    task = asyncio.create_task(make().generate(call(deadline_s=30)))
    assert await asyncio.to_thread(server.script.polled.wait, 5), "the job was submitted and polled"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert server.script.cancels == list(server.script.running)


async def test_without_a_cancel_url_a_timeout_still_times_out(make: Factory, server: VideoApiServer) -> None:
    server.script.jobs.append(Job(outcome="slow"))
    with pytest.raises(DyngenError) as caught:
        await make(cancel_url=None).generate(call(deadline_s=0.3))
    assert caught.value.code is ErrorCode.GEN_TIMEOUT
    assert server.script.cancels == []


async def test_a_result_on_the_apis_own_host_and_port_needs_no_key(make: Factory, server: VideoApiServer) -> None:
    """The configured API at 127.0.0.1 (the operator named it): submit, status and a result on that very
    host and port pass the rule with neither `private_hosts` nor `allow_private_hosts`."""
    server.script.jobs.append(Job(polls=0))
    assert (await make().generate(call())).artifacts[0].data == VIDEO


async def test_a_loopback_result_url_elsewhere_is_refused_unless_its_host_is_named(
    make: Factory, server: VideoApiServer
) -> None:
    elsewhere = f"http://localhost:{server.port}/files/video.mp4"  # the same machine, under another name
    server.script.jobs.append(Job(polls=0, result_url=elsewhere))
    with pytest.raises(DyngenError) as caught:
        await make().generate(call())
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert "SSRF" in caught.value.message
    assert "loopback" in caught.value.message
    assert server.script.downloads == 0
    server.script.jobs.append(Job(polls=0, result_url=elsewhere))
    assert (await make(private_hosts=["localhost"]).generate(call())).artifacts[0].data == VIDEO


async def test_the_deprecated_allow_private_hosts_lets_in_only_the_apis_own_hosts(
    make: Factory, server: VideoApiServer
) -> None:
    """`allow_private_hosts = true` once let every private address in; now it names the configured URLs'
    hosts (any port) and nothing else."""
    server.script.jobs.append(Job(polls=0, result_url="http://127.0.0.1:9/video.mp4"))  # own host, port 9
    with pytest.raises(DyngenError) as passed:
        await make(allow_private_hosts=True).generate(call())
    assert "SSRF" not in passed.value.message, "the rule let it through; nothing listens on port 9"
    assert "download failed" in passed.value.message
    for hostile in (f"http://localhost:{server.port}/files/video.mp4", "http://10.1.2.3/video.mp4"):
        server.script.jobs.append(Job(polls=0, result_url=hostile))
        with pytest.raises(DyngenError) as caught:
            await make(allow_private_hosts=True).generate(call())
        assert "SSRF" in caught.value.message, hostile
    assert server.script.downloads == 0


async def test_a_host_outside_the_allowed_hosts_is_refused(make: Factory, server: VideoApiServer) -> None:
    server.script.jobs.append(Job(polls=0))
    with pytest.raises(DyngenError) as caught:
        await make(allowed_hosts=["videos.example.com"]).generate(call())
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert "not in the allowed hosts" in caught.value.message
    assert server.script.downloads == 0


async def test_an_allowed_host_is_downloaded(make: Factory, server: VideoApiServer) -> None:
    server.script.jobs.append(Job(polls=0))
    result = await make(allowed_hosts=["127.0.0.1"]).generate(call())
    assert result.artifacts[0].data == VIDEO


async def test_every_redirect_hop_is_checked(make: Factory, server: VideoApiServer) -> None:
    hop = f"http://localhost:{server.port}/files/video.mp4"
    server.script.jobs.append(Job(polls=0, result_url=f"{server.base_url}/redirect?to={hop}"))
    with pytest.raises(DyngenError) as caught:
        await make(allowed_hosts=["127.0.0.1"]).generate(call())
    assert "'localhost' is not in the allowed hosts" in caught.value.message
    assert server.script.downloads == 0


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:6379/",  # the API's own host, another port
        "http://2130706433:{port}/files/video.mp4",
        "http://0x7f000001:{port}/files/video.mp4",
        "http://127.1:{port}/files/video.mp4",
        "http://[::ffff:127.0.0.1]:{port}/files/video.mp4",
        "http://[::1]:{port}/files/video.mp4",
        "http://localhost:{port}/files/video.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/video.mp4",
        "http://192.168.0.1/video.mp4",
        "http://100.64.0.1/video.mp4",
        "http://0.0.0.0:{port}/files/video.mp4",
        "http://224.0.0.1/video.mp4",
        "file:///etc/passwd",
        "ftp://93.184.216.34/video.mp4",
    ],
)
async def test_hostile_result_urls_are_refused(make: Factory, server: VideoApiServer, template: str) -> None:
    server.script.jobs.append(Job(polls=0, result_url=template.format(port=server.port)))
    with pytest.raises(DyngenError) as caught:
        await make().generate(call())
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert "SSRF" in caught.value.message
    assert server.script.downloads == 0


async def test_a_public_address_passes_the_rule() -> None:
    url = await check_url("https://93.184.216.34/v.mp4", allowed_hosts=[], allow_private_hosts=False)
    assert url.host == "93.184.216.34"
    with pytest.raises(DyngenError):
        await check_url("https://93.184.216.34/v.mp4", allowed_hosts=["*.cdn.example"], allow_private_hosts=False)


def test_body_template_placeholders_become_json_values() -> None:
    body = render_body(
        '{"p": {{prompt}}, "q": "{{prompt}}", "s": {{seed}}, "m": {{mood_to}}}',
        {"prompt": 'say "hi"', "seed": 7, "mood_to": None},
    )
    assert body == {"p": 'say "hi"', "q": 'say "hi"', "s": 7, "m": None}
    with pytest.raises(ValueError, match="unknown placeholder"):
        render_body('{"x": {{nope}}}', {})


def test_a_broken_template_or_status_url_stops_the_start() -> None:
    with pytest.raises(ValueError, match="Expecting property name"):
        HttpVideoProvider(submit_url="http://x/jobs", status_url="http://x/jobs/{id}", body_template="{not json")
    with pytest.raises(ValueError, match=r"\{id\}"):
        HttpVideoProvider(submit_url="http://x/jobs", status_url="http://x/jobs")


def video_settings(server: VideoApiServer, tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        http_video_submit_url=f"{server.base_url}/v1/jobs",
        http_video_status_url=f"{server.base_url}/v1/jobs/{{id}}",
        http_video_cancel_url=f"{server.base_url}/v1/jobs/{{id}}/cancel",
        http_video_auth_header="Authorization: Bearer vk-secret",
        http_video_poll_interval_s=0.02,
        http_video_id_path="data.id",
        http_video_status_path="state",
        http_video_result_path="output.url",
        http_video_allowed_hosts=["127.0.0.1"],
        **extra,
    )


async def test_settings_enable_the_provider_for_the_whole_service(
    server: VideoApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script.reset()
    services = await build(video_settings(server, tmp_path))
    try:
        assert "http_video" in services.providers.names()
        response = await generate_content(request=call(provider="http_video").request, ports=generation_ports(services))
        assert response.status == "complete"
        assert response.provider == "http_video"
        assert response.content is not None
        assert response.content.url
        assert server.script.submits[0]["authorization"] == "Bearer vk-secret"
    finally:
        await services.aclose()
    assert "http_video.submitted" in caplog.text
    assert "vk-secret" not in caplog.text, "the auth header is a secret"


async def test_by_default_a_private_result_url_fails_the_generation_naming_the_rule(
    server: VideoApiServer, tmp_path: Path
) -> None:
    server.script.reset()
    # A result on the API's own host (allowed) but another port: not the instance's own URL.
    server.script.jobs.append(Job(polls=0, result_url="http://127.0.0.1:6379/video.mp4"))
    services = await build(video_settings(server, tmp_path))
    try:
        response = await generate_content(request=call(provider="http_video").request, ports=generation_ports(services))
        assert response.status == "failed"
        assert response.error is not None
        assert response.error.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
        assert "SSRF" in response.error.message
        assert "loopback" in response.error.message
        assert server.script.downloads == 0
    finally:
        await services.aclose()


async def test_without_a_submit_url_the_provider_is_not_loaded(tmp_path: Path) -> None:
    services = await build(Settings(data_dir=tmp_path / "data"))
    try:
        assert "http_video" not in services.providers.names()
    finally:
        await services.aclose()


async def test_a_submit_url_without_a_status_url_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DYNGEN_HTTP_VIDEO_STATUS_URL"):
        await build(Settings(data_dir=tmp_path / "data", http_video_submit_url="http://127.0.0.1:9/jobs"))


async def test_the_download_connects_to_the_address_that_was_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name resolves to a public address when checked and to loopback afterwards."""
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])

    async def rebinding(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [(2, 1, 6, "", (next(answers), port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", rebinding)
    downloads: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/jobs":
            return httpx.Response(200, json={"data": {"id": "j1"}})
        if request.url.path == "/v1/jobs/j1":
            return httpx.Response(200, json={"state": "done", "output": {"url": "https://cdn.video.example/v.mp4"}})
        downloads.append(request)
        return httpx.Response(200, content=VIDEO)

    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        provider = HttpVideoProvider(
            submit_url="https://api.video.example/v1/jobs",
            status_url="https://api.video.example/v1/jobs/{id}",
            body_template='{"prompt": "{{prompt}}"}',
            id_path="data.id",
            status_path="state",
            result_path="output.url",
            client=client,
        )
        result = await provider.generate(call())

    assert result.artifacts[0].data == VIDEO
    (download,) = downloads
    assert download.url.host == "93.184.216.34", "connected to the checked address, not a fresh lookup"
    assert download.headers["host"] == "cdn.video.example"
    assert download.extensions["sni_hostname"] == "cdn.video.example", "TLS and its certificate check keep the name"


# --- remote jobs: kept with the generation's job, carried on by the next worker -----------------------


async def test_the_public_steps_submit_poll_and_cancel(make: Factory, server: VideoApiServer) -> None:
    server.script.jobs.append(Job(polls=1))
    provider = make()
    assert isinstance(provider, RemoteJobProvider)

    remote = await provider.submit(call())
    assert remote.provider == "http_video"
    assert await provider.poll(remote, call()) is None, "still running"
    done = await provider.poll(remote, call())

    assert done is not None
    assert done.artifacts[0].data == VIDEO
    server.script.jobs.append(Job(outcome="slow"))
    slow = await provider.submit(call())
    await provider.cancel(slow)
    assert server.script.cancels == [slow.id]


async def test_a_job_started_upstream_is_kept_with_the_generation_job(server: VideoApiServer, tmp_path: Path) -> None:
    server.script.reset()
    server.script.jobs.append(Job(polls=1))
    services = await build(video_settings(server, tmp_path))
    try:
        request = call(provider="http_video").request
        queued = await jobs.submit_job(
            request=request,
            request_hash="h1",
            idempotency_key=None,
            preparer=preparer(services),
            ports=job_ports(services),
        )
        await jobs.run_job(job_id=queued.job.id, owner="worker-1", runner=job_runner(services))

        events = await services.jobs.events_after(queued.job.id, 0)
        remote = [e.data["remote_job"] for e in events if "remote_job" in e.data]
        assert remote == [{"provider": "http_video", "id": next(iter(server.script.polls))}]
        assert (await jobs.get_job(job_id=queued.job.id, jobs=services.jobs)).status == "complete"
    finally:
        await services.aclose()


async def test_the_next_worker_polls_the_upstream_job_instead_of_submitting_again(
    server: VideoApiServer, tmp_path: Path
) -> None:
    server.script.reset()
    server.script.jobs.append(Job(polls=2))
    services = await build(video_settings(server, tmp_path))
    try:
        request = call(provider="http_video").request
        queued = await jobs.submit_job(
            request=request,
            request_hash="h1",
            idempotency_key=None,
            preparer=preparer(services),
            ports=job_ports(services),
        )
        # What a worker that died after submitting left behind: its claim, the job upstream, and its event;
        # the reaper then gave the job back to the queue (a job that never ran has no job upstream).
        now = services.clock.now()
        assert await services.jobs.claim(queued.job.id, owner="worker-1", now=now, lease_until=now) is not None
        provider = services.providers.get("http_video")
        assert isinstance(provider, RemoteJobProvider)
        remote = await provider.submit(call())
        await jobs.emit(
            job_ports(services),
            queued.job.id,
            "progress",
            {"remote_job": {"provider": remote.provider, "id": remote.id}},
        )
        assert await services.jobs.requeue(queued.job.id, attempts=1, owner="worker-1")

        await jobs.run_job(job_id=queued.job.id, owner="worker-2", runner=job_runner(services))

        assert (await jobs.get_job(job_id=queued.job.id, jobs=services.jobs)).status == "complete"
        assert len(server.script.submits) == 1, "no second job was paid for"
        assert server.script.polls == {remote.id: 3}
    finally:
        await services.aclose()
