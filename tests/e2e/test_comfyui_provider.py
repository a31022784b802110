"""The ComfyUI provider over real HTTP and a real websocket, against a fake ComfyUI that speaks ComfyUI's
protocol: the two shipped workflows, progress, outputs and posters, node errors, execution errors,
interrupts, a lost websocket, a slow queue, resuming, the SSRF rule, the size cap and secrets."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dyngen.adapters.providers.comfyui.provider import ComfyUIProvider
from dyngen.adapters.providers.comfyui.settings import ComfyUISettings
from dyngen.adapters.providers.http_transport import AiohttpTransport, ProviderClient
from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports, health_ports, job_ports, job_runner, preparer
from dyngen.config import Settings
from dyngen.domain.contracts import GenerateContentRequest, PayloadType
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ProviderCall, RemoteJob, RemoteJobProvider
from dyngen.services.generation.front_door import generate_content
from dyngen.services.jobs import lifecycle as jobs
from tests.support.fake_comfyui import FakeComfyUI, Run, animated_gif, animated_webp, mp4, png
from tests.support.proxy import TcpProxy
from tests.support.servers import free_port
from tests.support.waiting import until

Factory = Callable[..., ComfyUIProvider]
SECRET = "sk-comfy-0123456789"


@pytest.fixture(scope="module")
def comfy() -> Iterator[FakeComfyUI]:
    server = FakeComfyUI()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def clip() -> bytes:
    return mp4()


@pytest.fixture
async def make(comfy: FakeComfyUI) -> AsyncIterator[Factory]:
    comfy.script.reset()
    # The server's own client (aiohttp's wire, guarded calls handed straight to it), as bootstrap makes it.
    async with ProviderClient(transport=AiohttpTransport(), timeout=5) as client:

        def factory(**overrides: Any) -> ComfyUIProvider:
            options: dict[str, Any] = {
                "url": comfy.url,
                "workflow": "example:transition",
                "private_hosts": ["127.0.0.1"],
                "poll_interval_s": 0.02,
                "headers": {"Authorization": f"Bearer {SECRET}"},
                **overrides,
            }
            return ComfyUIProvider(ComfyUISettings.model_validate(options), client=client)

        yield factory


def call(*, deadline_s: float = 20.0, images: bool = True, **extra: Any) -> tuple[ProviderCall, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []

    async def on_progress(data: dict[str, Any]) -> None:
        events.append(data)

    request = GenerateContentRequest.model_validate(
        {
            "type": "transition",
            "from_scene": {"id": "cafe", "mood": "romantic", "summary": "A late coffee.", "image": "img-cafe"},
            "to_scene": {"id": "roof", "mood": "intense", "image": "img-roof"},
            "duration": {"min": 1, "max": 4, "target": 2},
            **extra,
        }
    )
    stored = {"img-cafe": png((10, 20, 30)), "img-roof": png((200, 100, 0))} if images else {}
    return (
        ProviderCall(
            request=request, seed=2**40 + 7, attempt=1, deadline_s=deadline_s, images=stored, on_progress=on_progress
        ),
        events,
    )


async def test_a_transition_uploads_the_scene_images_and_fills_the_workflow(
    make: Factory, comfy: FakeComfyUI, clip: bytes
) -> None:
    comfy.script.runs.append(Run(outputs=[("dyngen_transition_00001_.mp4", clip)]))
    provider = make()
    assert isinstance(provider, RemoteJobProvider)
    assert provider.info.uses_scene_images
    the_call, events = call()
    result = await provider.generate(the_call)

    [sent] = comfy.script.prompts
    assert sent["client_id"], "a client_id ties the websocket to our prompt"
    graph = sent["prompt"]
    uploaded = set(comfy.script.uploads)
    assert {graph["52"]["inputs"]["image"], graph["72"]["inputs"]["image"]} == uploaded
    assert comfy.script.uploads[graph["52"]["inputs"]["image"]] == the_call.images["img-cafe"]
    assert graph["83"]["inputs"]["length"] == 32, "2 s at the workflow's 16 fps"
    assert graph["3"]["inputs"]["seed"] == 7, "the seed is folded into ComfyUI's range"
    assert graph["6"]["inputs"]["text"].startswith("Cafe, romantic"), "the scene named in words, not by id"
    assert "Then Roof, intense." in graph["6"]["inputs"]["text"]
    assert comfy.script.headers[0]["authorization"] == f"Bearer {SECRET}"

    assert result.payload.type is PayloadType.VIDEO
    video, poster = result.artifacts
    assert (video.role, video.media_type, video.primary, video.data) == ("video", "video/mp4", True, clip)
    assert poster.role == "poster"
    assert poster.media_type == "image/jpeg"
    assert poster.data[:2] == b"\xff\xd8", "the poster is the first frame, as a JPEG"
    stages = [e["stage"] for e in events]
    assert stages[0] == "started"
    assert {"provider": "comfyui", "stage": "progress", "node": "3", "percent": 100} in events
    assert "executing" in stages
    assert "executed" in stages


async def test_a_still_from_text_sets_prompt_seed_and_size(make: Factory, comfy: FakeComfyUI) -> None:
    image = png((1, 2, 3))
    comfy.script.runs.append(Run(outputs=[("dyngen_still_00001_.png", image)]))
    provider = make(
        workflow="example:scene_still",
        generation_types=["environment"],
        width=640,
        height=360,
        negative_prompt="no people",
    )
    assert not provider.info.uses_scene_images
    the_call, _ = call(type="environment", images=False)
    result = await provider.generate(the_call)

    graph = comfy.script.prompts[0]["prompt"]
    assert (graph["5"]["inputs"]["width"], graph["5"]["inputs"]["height"]) == (640, 360)
    assert graph["7"]["inputs"]["text"] == "no people"
    assert comfy.script.uploads == {}
    assert result.payload.type is PayloadType.ENVIRONMENT
    [still] = result.artifacts
    assert (still.role, still.media_type, still.primary, still.data) == ("image", "image/png", True, image)


async def test_an_animated_webp_is_the_video_with_a_poster(make: Factory, comfy: FakeComfyUI) -> None:
    animation = animated_webp()
    comfy.script.runs.append(Run(outputs=[("clip_00001_.webp", animation)]))
    result = await make().generate(call()[0])
    video, poster = result.artifacts
    assert (video.media_type, video.primary, video.data) == ("image/webp", True, animation)
    assert poster.role == "poster"


async def test_an_animated_gif_is_the_video_with_a_poster_from_its_first_frame(
    make: Factory, comfy: FakeComfyUI
) -> None:
    """A GIF as VideoHelperSuite's VHS_VideoCombine reports it (under `gifs`, with its `format`): the
    primary video artifact, bytes untouched, and a JPEG poster taken from its first (red) frame."""
    animation = animated_gif()
    comfy.script.runs.append(Run(outputs=[("clip_00001.gif", animation)], output_key="gifs"))
    result = await make().generate(call()[0])
    video, poster = result.artifacts
    assert (video.role, video.media_type, video.primary, video.data) == ("video", "image/gif", True, animation)
    assert result.payload.type is PayloadType.VIDEO
    assert (poster.role, poster.media_type, poster.primary) == ("poster", "image/jpeg", False)
    with Image.open(io.BytesIO(poster.data)) as frame:
        assert frame.format == "JPEG"
        red, green, blue = frame.convert("RGB").getpixel((16, 12))
    assert red > 180, "the poster is the first (red) frame"
    assert max(green, blue) < 80, "the poster is the first (red) frame"


async def test_a_one_frame_gif_is_a_still_image(make: Factory, comfy: FakeComfyUI) -> None:
    still = animated_gif(frames=1)
    comfy.script.runs.append(Run(outputs=[("still_00001.gif", still)]))
    result = await make().generate(call()[0])
    (image,) = result.artifacts
    assert (image.role, image.media_type, image.primary, image.data) == ("image", "image/gif", True, still)


async def test_node_errors_name_the_node(make: Factory, comfy: FakeComfyUI) -> None:
    comfy.script.runs.append(
        Run(
            node_errors={
                "37": {
                    "errors": [
                        {
                            "type": "value_not_in_list",
                            "message": "Value not in list",
                            "details": f"unet_name: 'missing.safetensors' not in [] (key {SECRET})",
                            "extra_info": {},
                        }
                    ],
                    "dependent_outputs": ["61"],
                    "class_type": "UNETLoader",
                }
            }
        )
    )
    with pytest.raises(DyngenError) as caught:
        await make().generate(call()[0])
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert "node 37 (UNETLoader)" in caught.value.message
    assert "Value not in list" in caught.value.message
    assert SECRET not in caught.value.message, "an echoed header never reaches the error"
    assert comfy.script.deletes == [], "nothing was queued, so nothing is deleted"


async def test_an_execution_error_names_the_node_and_the_exception(make: Factory, comfy: FakeComfyUI) -> None:
    comfy.script.runs.append(Run(fail_at="3"))
    with pytest.raises(DyngenError) as caught:
        await make().generate(call()[0])
    assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert "node 3 (KSampler)" in caught.value.message
    assert "CUDA out of memory" in caught.value.message
    assert comfy.script.interrupts == [], "a run that ended on the server is not interrupted"


async def test_a_cancelled_generation_interrupts_our_running_prompt(make: Factory, comfy: FakeComfyUI) -> None:
    comfy.script.runs.append(Run(hold=True))
    task = asyncio.create_task(make().generate(call()[0]))
    await until(comfy.script.started.is_set, what="the prompt to start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [prompt_id] = comfy.script.interrupts
    assert prompt_id is not None, "the interrupt names our prompt, so it never stops someone else's"
    assert comfy.script.deletes == [prompt_id]
    await until(lambda: prompt_id in comfy.script.history, what="the interrupted run to reach the history")
    assert comfy.script.history[prompt_id]["status"]["status_str"] == "error"


async def test_a_slow_queue_is_waited_for_and_a_deadline_only_dequeues(make: Factory, comfy: FakeComfyUI) -> None:
    comfy.script.paused = True  # someone else's long run holds the queue
    with pytest.raises(DyngenError) as caught:
        await make().generate(call(deadline_s=1.0)[0])
    assert caught.value.code is ErrorCode.GEN_TIMEOUT
    assert comfy.script.interrupts == [], "a prompt still waiting is not interrupted: another one runs"
    assert len(comfy.script.deletes) == 1
    assert comfy.script.pending == []

    task = asyncio.create_task(make().generate(call()[0]))
    await until(comfy.script.queued.is_set, what="the prompt to be queued")
    comfy.script.paused = False
    result = await task
    assert result.artifacts[0].primary


async def test_a_lost_websocket_falls_back_to_the_history(make: Factory, comfy: FakeComfyUI) -> None:
    comfy.script.runs.append(Run(drop_ws=True, outputs=[("late_00001_.png", png())]))
    result = await make().generate(call()[0])
    assert result.artifacts[0].data == png()
    assert comfy.script.views == ["late_00001_.png"]


async def test_a_prompt_that_outlives_its_worker_is_resumed_not_requeued(make: Factory, comfy: FakeComfyUI) -> None:
    provider = make()
    comfy.script.paused = True
    job = await provider.submit(call()[0])
    assert await provider.poll(job, call()[0]) is None, "still queued"
    comfy.script.paused = False
    resumed, _ = call()
    resumed = ProviderCall(
        request=resumed.request,
        seed=1,
        attempt=1,
        deadline_s=20,
        images=resumed.images,
        remote_job=RemoteJob("comfyui", job.id),
    )
    result = await provider.generate(resumed)
    assert len(comfy.script.prompts) == 1, "the resumed prompt is followed, not queued again"
    assert result.artifacts[0].primary


async def test_a_local_comfyui_needs_its_host_named(make: Factory, comfy: FakeComfyUI) -> None:
    for private_hosts in ([], ["localhost"], ["10.0.0.1"]):
        with pytest.raises(DyngenError) as caught:
            await make(private_hosts=private_hosts).generate(call()[0])
        assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
        assert "SSRF" in caught.value.message
        assert "private_hosts" in caught.value.message
    assert comfy.script.prompts == [], "nothing was sent to a host the rule refused"


async def test_outputs_over_the_size_cap_are_refused(make: Factory, comfy: FakeComfyUI, clip: bytes) -> None:
    comfy.script.runs.append(Run(outputs=[("big.mp4", clip)]))
    with pytest.raises(DyngenError) as caught:
        await make(max_bytes=len(clip) - 1).generate(call()[0])
    assert "larger than" in caught.value.message


async def test_the_key_never_reaches_logs_or_errors(
    make: Factory, comfy: FakeComfyUI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    comfy.script.runs.append(Run(fail_at="3"))
    with pytest.raises(DyngenError) as caught:
        await make().generate(call()[0])
    assert SECRET not in caught.value.message
    assert SECRET not in caplog.text
    assert SECRET not in repr(make())


def test_a_map_naming_a_missing_input_stops_the_start(comfy: FakeComfyUI) -> None:
    with pytest.raises(ValueError, match=r"node 83 \(WanFirstLastFrameToVideo\) has no input 'frames'"):
        ComfyUIProvider(ComfyUISettings(url=comfy.url, workflow="example:transition", inputs={"frames": "83.frames"}))


async def test_configured_from_the_environment_it_serves_a_generation(
    comfy: FakeComfyUI, clip: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    comfy.script.reset()
    comfy.script.runs.append(Run(outputs=[("dyngen_transition_00001_.mp4", clip)]))
    monkeypatch.setenv("DYNGEN_COMFYUI__URL", comfy.url)
    monkeypatch.setenv("DYNGEN_COMFYUI__WORKFLOW", "example:transition")
    monkeypatch.setenv("DYNGEN_COMFYUI__PRIVATE_HOSTS", '["127.0.0.1"]')
    services = await build(Settings(data_dir=tmp_path / "data"))
    try:
        assert "comfyui" in services.providers.names()
        request = GenerateContentRequest.model_validate(
            {
                "type": "transition",
                "from_scene": {"id": "cafe", "mood": "romantic"},
                "to_scene": {"id": "roof", "mood": "intense"},
                "duration": {"min": 1, "max": 4, "target": 2},
                "provider": "comfyui",
            }
        )
        response = await generate_content(request=request, ports=generation_ports(services))
        assert response.status == "complete", response.error
        assert response.provider == "comfyui"
        assert response.content is not None
        assert response.content.type is PayloadType.VIDEO
        assert sorted(a.role for a in response.artifacts or []) == ["poster", "video"]

        comfy.script.runs.append(Run(outputs=[("dyngen_transition_00002_.mp4", clip)]))
        request = request.model_copy(update={"to_scene": request.from_scene})  # not the cached one
        queued = await jobs.submit_job(
            request=request,
            request_hash="h1",
            idempotency_key=None,
            preparer=preparer(services),
            ports=job_ports(services),
        )
        await jobs.run_job(job_id=queued.job.id, owner="worker-1", runner=job_runner(services))
        events = await services.jobs.events_after(queued.job.id, 0)
        upstream = [e.data["upstream"] for e in events if "upstream" in e.data]
        assert upstream[0] == {"provider": "comfyui", "stage": "started"}
        assert {"provider": "comfyui", "stage": "progress", "node": "3", "percent": 100} in upstream
        remote = [e.data["remote_job"] for e in events if "remote_job" in e.data]
        assert remote == [{"provider": "comfyui", "id": comfy.script.prompts[-1]["prompt_id"]}]
    finally:
        await services.aclose()


async def test_without_settings_it_is_not_loaded(tmp_path: Path) -> None:
    services = await build(Settings(data_dir=tmp_path / "data"))
    try:
        assert "comfyui" not in services.providers.names()
    finally:
        await services.aclose()


@pytest.mark.parametrize("shape", ["cut", "hang"])
async def test_an_unreachable_or_silent_comfyui_fails_within_the_deadline(
    make: Factory, comfy: FakeComfyUI, shape: str
) -> None:
    proxy = TcpProxy("127.0.0.1", comfy.port)
    try:
        getattr(proxy, shape)()
        with pytest.raises(DyngenError) as caught:
            await make(url=f"http://127.0.0.1:{proxy.port}").generate(call(deadline_s=1.5)[0])
        expected = ErrorCode.GEN_PROVIDER_UNAVAILABLE if shape == "cut" else ErrorCode.GEN_TIMEOUT
        assert caught.value.code is expected
        assert comfy.script.prompts == [], "nothing reached ComfyUI"
    finally:
        proxy.close()


async def test_the_health_check_reads_system_stats_through_the_ssrf_rule(make: Factory, comfy: FakeComfyUI) -> None:
    provider = make()
    await provider.health()
    with pytest.raises(DyngenError, match="SSRF"):
        await make(private_hosts=[]).health()


@pytest.mark.parametrize("shape", ["cut", "hang"])
async def test_a_comfyui_that_is_down_or_silent_fails_its_health_check(
    make: Factory, comfy: FakeComfyUI, shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dyngen.adapters.providers.comfyui import provider as module

    monkeypatch.setattr(module, "HEALTH_TIMEOUT_S", 0.5)
    proxy = TcpProxy("127.0.0.1", comfy.port)
    try:
        getattr(proxy, shape)()
        with pytest.raises(DyngenError) as caught:
            await make(url=f"http://127.0.0.1:{proxy.port}").health()
        expected = ErrorCode.GEN_PROVIDER_UNAVAILABLE if shape == "cut" else ErrorCode.GEN_TIMEOUT
        assert caught.value.code is expected
        assert SECRET not in caught.value.message
    finally:
        proxy.close()


async def test_api_health_lists_a_comfyui_instance_that_is_down(tmp_path: Path) -> None:
    from dyngen.services.reporting.health import check_health

    studio = {
        "kind": "comfyui",
        "url": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "workflow": "example:transition",
        "private_hosts": ["127.0.0.1"],
    }
    services = await build(Settings(data_dir=tmp_path / "data", providers={"studio": studio}))
    try:
        report = await check_health(ports=health_ports(services))
        assert report.providers["studio"].status == "down"
        assert "ComfyUI is unreachable" in (report.providers["studio"].detail or "")
        assert report.status == "degraded"
        assert "provider studio is down" in " ".join(report.reasons)
    finally:
        await services.aclose()


async def test_the_next_worker_follows_the_prompt_a_dead_worker_queued(
    comfy: FakeComfyUI, clip: bytes, tmp_path: Path
) -> None:
    comfy.script.reset()
    comfy.script.runs.append(Run(outputs=[("dyngen_transition_00001_.mp4", clip)]))
    studio = {"kind": "comfyui", "url": comfy.url, "workflow": "example:transition", "private_hosts": ["127.0.0.1"]}
    services = await build(Settings(data_dir=tmp_path / "data", providers={"studio": studio}))
    try:
        request = call()[0].request.model_copy(update={"provider": "studio"})
        queued = await jobs.submit_job(
            request=request,
            request_hash="h1",
            idempotency_key=None,
            preparer=preparer(services),
            ports=job_ports(services),
        )
        # What a worker that died after queueing left behind: its claim, the prompt on ComfyUI, and its
        # event; the reaper then gave the job back to the queue (a job that never ran has no prompt).
        now = services.clock.now()
        assert await services.jobs.claim(queued.job.id, owner="worker-1", now=now, lease_until=now) is not None
        provider = services.providers.get("studio")
        assert isinstance(provider, RemoteJobProvider)
        comfy.script.paused = True
        remote = await provider.submit(call()[0])
        await jobs.emit(
            job_ports(services),
            queued.job.id,
            "progress",
            {"remote_job": {"provider": remote.provider, "id": remote.id}},
        )
        assert await services.jobs.requeue(queued.job.id, attempts=1, owner="worker-1")
        comfy.script.paused = False

        await jobs.run_job(job_id=queued.job.id, owner="worker-2", runner=job_runner(services))

        assert (await jobs.get_job(job_id=queued.job.id, jobs=services.jobs)).status == "complete"
        assert [p["prompt_id"] for p in comfy.script.prompts] == [remote.id], "followed, not queued again"
    finally:
        await services.aclose()
