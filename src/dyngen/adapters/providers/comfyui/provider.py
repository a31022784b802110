"""`ComfyUIProvider`: runs a ComfyUI workflow (API format) on a ComfyUI server, as ComfyUI's own front end
does.

One run: the scene images are uploaded (`POST /upload/image`) and named on the `LoadImage` nodes the input
map points at; the prompt, negative prompt, seed, size and frame count are set on their inputs; the
workflow is queued (`POST /prompt` with our `client_id`), and its progress followed on the `/ws`
websocket (`execution_start`, `executing`, `progress`, `executed`, `execution_success`,
`execution_error`, `execution_interrupted`), each step reported to `call.on_progress`. A lost websocket
is no failure: the run is then followed by polling `/history/{prompt_id}`. The finished run's outputs
are read from `/history/{prompt_id}` and each file fetched from `/view`; images, animated WebP/GIF and
MP4 become artifacts, with a poster taken from the first frame when the workflow makes no still.

A run that outlives the call's deadline, or whose generation is cancelled, is stopped: `POST /interrupt`
when it is our prompt that is running (never someone else's), and a delete from `/queue`. Each prompt
queued is reported through `call.on_remote_job`; a worker carrying on after another died passes it back
as `call.remote_job`, and the run is followed, not queued again.

Every URL is checked against the SSRF rule: a ComfyUI on a private address is reached only when the
instance names that host in `private_hosts`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from dyngen.adapters.providers.comfyui import poster
from dyngen.adapters.providers.comfyui.settings import ComfyUISettings
from dyngen.adapters.providers.comfyui.workflow import OutputFile, Workflow, load, outputs
from dyngen.adapters.providers.http_video import video_prompt
from dyngen.adapters.providers.ssrf import UrlRule, guarded_get, secret_parts
from dyngen.adapters.providers.upstream import call_upstream, json_answer
from dyngen.domain.contracts import GenerateContentRequest, GenerationType, PayloadType
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.responses import ContentMetadata, GeneratedContentPayload
from dyngen.ports import ArtifactBlob, ProviderCall, ProviderInfo, ProviderResult, RemoteJob

log = logging.getLogger("dyngen.providers.comfyui")

CANCEL_TIMEOUT_S = 5.0
HEALTH_TIMEOUT_S = 3.0
WS_QUIET_S = 15.0  # a websocket silent this long is double-checked against /history
MAX_SEED = 2**32
VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/quicktime"})
PAYLOADS = {
    GenerationType.TRANSITION: PayloadType.VIDEO,
    GenerationType.VARIATION: PayloadType.VIDEO,
    GenerationType.ENVIRONMENT: PayloadType.ENVIRONMENT,
}


def _negative(request: GenerateContentRequest, configured: str | None) -> str | None:
    """The node's own negative prompt template, else the instance's `negative_prompt`, else the shipped
    default (the avoided elements)."""
    if request.prompt is not None and request.prompt.negative_prompt is not None:
        return video_prompt(request, role="negative_prompt") or None
    return configured or video_prompt(request, role="negative_prompt") or None


class _Run:
    """One queued prompt: its id and whether it has ended on the server (nothing left to stop)."""

    def __init__(self, prompt_id: str | None = None) -> None:
        self.prompt_id = prompt_id
        self.settled = False


class ComfyUIProvider:
    """A ComfyUI server running one workflow, over the shared `httpx.AsyncClient` and a websocket.

    Args:
        settings: The instance's settings (server, workflow, input map, SSRF rule, caps).
        client: The shared HTTP client (bootstrap passes it; one is made when absent).
        name: The instance's registry name.

    Raises:
        ValueError: A workflow or input map that cannot be read or names nodes that are not there.
    """

    needs_options = True
    settings_model = ComfyUISettings

    def __init__(
        self, settings: ComfyUISettings, *, client: httpx.AsyncClient | None = None, name: str = "comfyui"
    ) -> None:
        self._settings = settings
        self._workflow: Workflow = load(settings.workflow, settings.inputs)
        types = frozenset(settings.generation_types)
        self.info = ProviderInfo(
            name=name,
            generation_types=types,
            media=frozenset({"video/mp4", "video/webm", "image/png", "image/jpeg", "image/webp", "image/gif"}),
            deterministic=False,
            remote=True,
            uses_scene_images=bool(self._workflow.inputs.get("from_image") or self._workflow.inputs.get("to_image")),
        )
        self._base = httpx.URL(settings.url.rstrip("/") + "/")
        if self._base.scheme not in ("http", "https"):
            raise ValueError("the ComfyUI url must be http(s)")
        self._headers = {k: v.get_secret_value() for k, v in settings.headers.items()}
        self._secrets = secret_parts(self._headers.values())
        self._rule = UrlRule(
            allowed_hosts=tuple(settings.allowed_hosts),
            private_hosts=tuple(settings.private_hosts),
        )
        self._client = client or httpx.AsyncClient()
        self._cancels: set[asyncio.Task[None]] = set()
        self._fingerprint = f"comfyui:{self._base.host}:{settings.workflow}"

    def estimate_cost(self, request: Any) -> float:
        return self._settings.cost_per_run

    # --- the run ---------------------------------------------------------------------------------

    async def generate(self, call: ProviderCall) -> ProviderResult:
        until = asyncio.get_running_loop().time() + call.deadline_s
        run = _Run()
        resumed = (
            call.remote_job if call.remote_job is not None and call.remote_job.provider == self.info.name else None
        )
        try:
            async with asyncio.timeout_at(until):
                await self._rule.check(str(self._base), what="ComfyUI URL")
                if resumed is not None:
                    run.prompt_id = resumed.id
                    log.info("comfyui.resumed prompt=%s", run.prompt_id)
                    entry = await self._follow_by_history(run, call, until)
                else:
                    client_id = uuid.uuid4().hex
                    ws = await self._open_ws(client_id)
                    try:
                        await self._queue(call, run, client_id, until)
                        if call.on_remote_job is not None:
                            await call.on_remote_job(RemoteJob(self.info.name, str(run.prompt_id)))
                        entry = await self._follow(ws, run, call, until)
                    finally:
                        if ws is not None:
                            await ws.close()
                result = await self._collect(call, entry, until)
        except (TimeoutError, httpx.TimeoutException) as exc:
            await self._stop(run)
            raise DyngenError(ErrorCode.GEN_TIMEOUT, "the ComfyUI run did not finish in time") from exc
        except (asyncio.CancelledError, DyngenError):
            await self._stop(run)
            raise
        return result

    async def submit(self, call: ProviderCall) -> RemoteJob:
        """Queue the workflow (within `call.deadline_s`)."""
        until = asyncio.get_running_loop().time() + call.deadline_s
        run = _Run()
        async with asyncio.timeout_at(until):
            await self._rule.check(str(self._base), what="ComfyUI URL")
            await self._queue(call, run, uuid.uuid4().hex, until)
        return RemoteJob(self.info.name, str(run.prompt_id))

    async def poll(self, job: RemoteJob, call: ProviderCall) -> ProviderResult | None:
        """One look at `/history`: the result once the prompt has finished, None while it is queued or runs."""
        until = asyncio.get_running_loop().time() + call.deadline_s
        async with asyncio.timeout_at(until):
            entry = await self._history(_Run(job.id), until)
            if entry is None:
                return None
            return await self._collect(call, entry, until)

    async def cancel(self, job: RemoteJob) -> None:
        """Stop the prompt on the server (best effort)."""
        await self._stop(_Run(job.id))

    async def health(self) -> None:
        """Raises when ComfyUI does not answer `GET /system_stats` (its URL through the SSRF rule first);
        `GET /api/health` shows the instance down with the reason.

        Raises:
            DyngenError: GEN_PROVIDER_UNAVAILABLE (refused, unreachable, failing) or GEN_TIMEOUT (silent).
        """
        until = asyncio.get_running_loop().time() + HEALTH_TIMEOUT_S
        try:
            async with asyncio.timeout_at(until):
                await self._rule.check(str(self._base), what="ComfyUI URL")
                await self._api("GET", "system_stats", until)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise DyngenError(
                ErrorCode.GEN_TIMEOUT, f"ComfyUI did not answer /system_stats within {HEALTH_TIMEOUT_S:g} s"
            ) from exc

    # --- HTTP ------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return str(self._base.join(path))

    def _left(self, until: float) -> float:
        return max(until - asyncio.get_running_loop().time(), 0.001)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def _api(self, method: str, path: str, until: float, *, ok_400: bool = False, **kwargs: Any) -> Any:
        route = "/" + path.split("?", maxsplit=1)[0]
        response = await call_upstream(
            self._client,
            method,
            self._url(path),
            who="ComfyUI",
            route=route,
            headers=self._headers,
            timeout_s=self._left(until),
            rule=self._rule,
            # `/prompt` answers 400 with the workflow's `node_errors`: the caller reads them.
            usable=(lambda status: status <= 400) if ok_400 else (lambda status: status < 400),
            **kwargs,
        )
        return json_answer(response, who="ComfyUI", route=route, empty_ok=True)

    async def _upload(self, name: str, data: bytes, until: float) -> str:
        """Upload a scene image to ComfyUI's input folder; the name a `LoadImage` node takes."""
        answer = await self._api(
            "POST",
            "upload/image",
            until,
            files={"image": (f"dyngen-{name}.png", data, "application/octet-stream")},
            data={"overwrite": "true", "type": "input"},
        )
        uploaded = str(answer.get("name") or "") if isinstance(answer, dict) else ""
        if not uploaded:
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, "ComfyUI's upload answer names no file")
        subfolder = str(answer.get("subfolder") or "")
        return f"{subfolder}/{uploaded}" if subfolder else uploaded

    async def _queue(self, call: ProviderCall, run: _Run, client_id: str, until: float) -> None:
        request = call.request
        workflow, settings = self._workflow, self._settings
        images: dict[str, str | None] = {}
        for key, scene in (("from_image", request.from_scene), ("to_image", request.to_scene)):
            data = call.images.get(scene.image) if scene is not None and scene.image else None
            images[key] = await self._upload(scene.image, data, until) if data and scene and scene.image else None
        fps = workflow.read("fps")
        fps_value = float(fps) if isinstance(fps, int | float) and fps > 0 else settings.fps
        graph = workflow.filled(
            {
                "prompt": video_prompt(request, call.script),
                "negative_prompt": _negative(request, settings.negative_prompt),
                "seed": call.seed % MAX_SEED,
                "width": settings.width,
                "height": settings.height,
                "frames": max(1, round(request.duration.target * fps_value)),
                **images,
            }
        )
        # Our own prompt id (ComfyUI takes one in the body): a cancellation that lands while the answer is
        # on its way still knows what to interrupt and dequeue.
        run.prompt_id = str(uuid.uuid4())
        body = {"prompt": graph, "client_id": client_id, "prompt_id": run.prompt_id}
        answer = await self._api("POST", "prompt", until, ok_400=True, json=body)
        node_errors = answer.get("node_errors") if isinstance(answer, dict) else None
        if node_errors or (isinstance(answer, dict) and "error" in answer):
            run.settled = True
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, self._refusal(answer, graph))
        prompt_id = answer.get("prompt_id") if isinstance(answer, dict) else None
        if not prompt_id:
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, "ComfyUI queued the workflow without a prompt_id")
        run.prompt_id = str(prompt_id)
        log.info("comfyui.queued prompt=%s number=%s", run.prompt_id, answer.get("number"))

    def _refusal(self, answer: dict[str, Any], graph: dict[str, Any]) -> str:
        """ComfyUI's refusal of a workflow, naming each node it blames and why."""
        parts: list[str] = []
        for node, detail in (answer.get("node_errors") or {}).items():
            class_type = (detail or {}).get("class_type") or graph.get(node, {}).get("class_type", "?")
            reasons = "; ".join(
                f"{e.get('message', '')}" + (f" ({e.get('details')})" if e.get("details") else "")
                for e in (detail or {}).get("errors", [])
                if isinstance(e, dict)
            )
            parts.append(f"node {node} ({class_type}): {reasons or 'invalid'}")
        error = answer.get("error")
        head = error.get("message") if isinstance(error, dict) else (str(error) if error else "")
        text = f"ComfyUI refused the workflow {self._settings.workflow}: {head or 'invalid workflow'}"
        return self._scrub(text + (" - " + " | ".join(parts) if parts else ""))[:1000]

    async def _history(self, run: _Run, until: float) -> dict[str, Any] | None:
        """The prompt's `/history` entry once it has finished, None while it is queued or runs.

        Raises:
            DyngenError: It failed or was interrupted on the server, or is neither queued nor known.
        """
        answer = await self._api("GET", f"history/{run.prompt_id}", until)
        entry = answer.get(str(run.prompt_id)) if isinstance(answer, dict) else None
        if isinstance(entry, dict):
            status = entry.get("status") or {}
            if status.get("status_str") == "error" or status.get("completed") is False:
                run.settled = True
                raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, self._failure(status.get("messages") or []))
            if status.get("completed", True):
                run.settled = True
                return entry
        return None

    def _failure(self, messages: list[Any]) -> str:
        for item in messages:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict):
                kind, data = item
                if kind == "execution_error":
                    return self._scrub(
                        f"the ComfyUI run failed at node {data.get('node_id')} ({data.get('node_type')}): "
                        f"{data.get('exception_type', '')}: {data.get('exception_message', '')}".strip()
                    )[:500]
                if kind == "execution_interrupted":
                    return f"the ComfyUI run was interrupted at node {data.get('node_id')} ({data.get('node_type')})"
        return "the ComfyUI run failed"

    # --- following the run -----------------------------------------------------------------------

    async def _open_ws(self, client_id: str) -> ClientConnection | None:
        """The `/ws` websocket for our client id, or None when it cannot be opened (then /history is polled)."""
        scheme = "wss" if self._base.scheme == "https" else "ws"
        url = str(self._base.copy_with(scheme=scheme).join(f"ws?clientId={client_id}"))
        try:
            async with asyncio.timeout(CANCEL_TIMEOUT_S):
                return await connect(
                    url,
                    additional_headers=self._headers,
                    max_size=2**22,
                    open_timeout=None,
                    close_timeout=1,
                    logger=_NoDebug(log, {}),
                )
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.warning("comfyui.ws_unavailable error=%s (following /history instead)", type(exc).__name__)
            return None

    async def _follow(self, ws: ClientConnection | None, run: _Run, call: ProviderCall, until: float) -> dict[str, Any]:
        """Follow the run on the websocket until it ends, falling back to /history when the socket is lost."""
        report = _Reporter(call.on_progress, self.info.name)
        while ws is not None:
            try:
                async with asyncio.timeout(WS_QUIET_S):
                    raw = await ws.recv()
            except TimeoutError:
                if (entry := await self._history(run, until)) is not None:
                    return entry
                continue
            except (OSError, WebSocketException) as exc:
                log.warning(
                    "comfyui.ws_lost prompt=%s error=%s (following /history)", run.prompt_id, type(exc).__name__
                )
                break
            if isinstance(raw, bytes):
                continue  # preview images: not ours to keep
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            kind, data = message.get("type"), message.get("data") or {}
            if data.get("prompt_id") not in (None, run.prompt_id):
                continue
            if kind == "execution_error":
                run.settled = True
                raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, self._failure([[kind, data]]))
            if kind == "execution_interrupted":
                run.settled = True
                raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, self._failure([[kind, data]]))
            await report(kind, data)
            ended = kind == "execution_success" or (
                kind == "executing" and data.get("node") is None and data.get("prompt_id") == run.prompt_id
            )
            if ended:
                break  # the history is written just after: follow it there
        return await self._follow_by_history(run, call, until)

    async def _follow_by_history(self, run: _Run, call: ProviderCall, until: float) -> dict[str, Any]:
        report = _Reporter(call.on_progress, self.info.name)
        while True:
            entry = await self._history(run, until)
            if entry is not None:
                return entry
            position = await self._queue_position(run, until)
            if position is None and (entry := await self._history(run, until)) is not None:
                return entry  # it finished between the two looks
            if position is None:
                run.settled = True
                raise DyngenError(
                    ErrorCode.GEN_PROVIDER_UNAVAILABLE,
                    "the ComfyUI prompt is neither queued nor in the history (server restarted?)",
                )
            await report("queue", {"position": position})
            await asyncio.sleep(self._settings.poll_interval_s)  # no push without the websocket: polling it is

    async def _queue_position(self, run: _Run, until: float) -> int | None:
        """0 while our prompt runs, n while n prompts run or wait before it, None when it is not queued."""
        answer = await self._api("GET", "queue", until)
        running = [item[1] for item in answer.get("queue_running", []) if isinstance(item, list) and len(item) > 1]
        pending = sorted(
            (item for item in answer.get("queue_pending", []) if isinstance(item, list) and len(item) > 1),
            key=lambda item: item[0],
        )
        if run.prompt_id in running:
            return 0
        for index, item in enumerate(pending):
            if item[1] == run.prompt_id:
                return len(running) + index + 1
        return None

    # --- outputs ---------------------------------------------------------------------------------

    async def _collect(self, call: ProviderCall, entry: dict[str, Any], until: float) -> ProviderResult:
        files = [f for f in outputs(entry) if f.media_type is not None][: self._settings.max_outputs]
        if not files:
            raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, "the ComfyUI workflow saved no image or video")
        fetched = [(f, await self._view(f, until)) for f in files]
        moving = [(f, data, t) for f, (data, t) in fetched if t in VIDEO_TYPES or poster.frame_count(data) > 1]
        stills = [(f, data, t) for f, (data, t) in fetched if (f, data, t) not in moving]
        request = call.request
        payload_type = PAYLOADS.get(request.type, PayloadType.VIDEO)
        artifacts: list[ArtifactBlob] = []
        if moving:
            first, data, media_type = moving[0]
            artifacts.append(ArtifactBlob(role="video", media_type=media_type, data=data, primary=True))
            artifacts += [ArtifactBlob(role="video", media_type=t, data=d) for _, d, t in moving[1:]]
            if stills:
                artifacts += [
                    ArtifactBlob(role="poster" if i == 0 else "image", media_type=t, data=d)
                    for i, (_, d, t) in enumerate(stills)
                ]
            elif (jpeg := await poster.first_frame(data, media_type)) is not None:
                artifacts.append(ArtifactBlob(role="poster", media_type="image/jpeg", data=jpeg))
            log.info("comfyui.done prompt_node=%s files=%d", first.node, len(files))
        else:
            artifacts += [
                ArtifactBlob(role="image", media_type=t, data=d, primary=i == 0) for i, (_, d, t) in enumerate(stills)
            ]
        return ProviderResult(
            payload=GeneratedContentPayload(
                type=payload_type,
                duration=request.duration.target if moving else None,
                # No element tags: a generated video is not known to show what was asked (`unverified`).
                metadata=ContentMetadata(
                    mood=request.style.mood_to or (request.to_scene.mood if request.to_scene else None)
                ),
            ),
            artifacts=artifacts,
            cost=self._settings.cost_per_run,
            fingerprint=self._fingerprint,
        )

    async def _view(self, file: OutputFile, until: float) -> tuple[bytes, str]:
        """One output file from `/view`, through the SSRF rule and the size cap."""
        query = httpx.QueryParams({"filename": file.filename, "subfolder": file.subfolder, "type": file.type})
        data, declared = await guarded_get(
            self._client,
            f"{self._url('view')}?{query}",
            rule=self._rule,
            timeout_s=self._left(until),
            max_bytes=self._settings.max_bytes,
            what="ComfyUI output",
            headers=self._headers,
        )
        media_type = file.media_type or declared
        return data, str(media_type)

    # --- stopping --------------------------------------------------------------------------------

    async def _stop(self, run: _Run) -> None:
        """Stop our prompt on the server: interrupt it only when it is the one running, and delete it from
        the queue. Best effort, short timeouts, shielded from a second cancellation."""
        if run.prompt_id is None or run.settled:
            return
        prompt_id = run.prompt_id

        async def send() -> None:
            until = asyncio.get_running_loop().time() + CANCEL_TIMEOUT_S
            try:
                if await self._queue_position(run, until) == 0:
                    await self._api("POST", "interrupt", until, json={"prompt_id": prompt_id})
                    log.info("comfyui.interrupted prompt=%s", prompt_id)
                await self._api("POST", "queue", until, json={"delete": [prompt_id]})
                log.info("comfyui.dequeued prompt=%s", prompt_id)
            except DyngenError as exc:
                log.warning("comfyui.stop_failed prompt=%s error=%s", prompt_id, exc.message)
            except (httpx.HTTPError, TimeoutError) as exc:
                log.warning("comfyui.stop_failed prompt=%s error=%s", prompt_id, type(exc).__name__)

        task = asyncio.ensure_future(send())
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)
        await asyncio.shield(task)


class _NoDebug(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The websocket's logger without its debug lines: they print the request headers, our secrets."""

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        return level > logging.DEBUG and self.logger.isEnabledFor(level)

    def debug(self, *args: Any, **kwargs: Any) -> None:
        return


class _Reporter:
    """Turns ComfyUI's messages into progress events: each node that starts, and sampler progress in
    tenths (a step-by-step stream would flood the job's events)."""

    def __init__(self, sink: Callable[[dict[str, Any]], Awaitable[None]] | None, name: str) -> None:
        self._sink = sink
        self._name = name
        self._last: tuple[Any, ...] | None = None

    async def __call__(self, kind: str | None, data: dict[str, Any]) -> None:
        if self._sink is None:
            return
        event: dict[str, Any]
        if kind == "execution_start":
            event = {"stage": "started"}
        elif kind == "executing" and data.get("node") is not None:
            event = {"stage": "executing", "node": str(data["node"])}
        elif kind == "progress" and data.get("max"):
            tenth = int(10 * int(data.get("value", 0)) / int(data["max"]))
            event = {"stage": "progress", "node": str(data.get("node")), "percent": tenth * 10}
        elif kind == "executed":
            event = {"stage": "executed", "node": str(data.get("node"))}
        elif kind == "queue":
            event = {"stage": "queued", "position": data.get("position")}
        else:
            return
        key = tuple(sorted(event.items()))
        if key == self._last:
            return
        self._last = key
        await self._sink({"provider": self._name, **event})
