"""A fake ComfyUI server on loopback that speaks ComfyUI's protocol, scripted per test.

Routes and messages follow ComfyUI's own `server.py` and `execution.py`: `POST /prompt` answers
`{"prompt_id", "number", "node_errors"}` or 400 with `{"error": {...}, "node_errors": {node: {"errors":
[...], "dependent_outputs": [...], "class_type": ...}}}`; `/ws?clientId=` first sends `status`, then, for
the prompts of that client, `execution_start`, `execution_cached`, `executing` (node None at the end),
`progress`, `executed`, `execution_success`, `execution_error`, `execution_interrupted`; `/history/{id}`
holds `{id: {"prompt": [...], "outputs": {...}, "status": {"status_str", "completed", "messages"}}}` once a
prompt is done; `/view` serves output files; `/upload/image` stores an input image; `/interrupt` stops
the running prompt (only the named one when a `prompt_id` is sent); `/queue` lists and deletes;
`/system_stats` describes the machine (what a health check reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from PIL import Image

from tests.support.servers import free_port, port_open
from tests.support.waiting import wait_until


def png(color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(out, format="PNG")
    return out.getvalue()


def animated_webp() -> bytes:
    out = io.BytesIO()
    frames = [Image.new("RGB", (32, 24), (i * 60, 100, 200 - i * 50)) for i in range(4)]
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def animated_gif(frames: int = 4) -> bytes:
    """A GIF of `frames` frames, the first one red (a poster taken from it is red)."""
    out = io.BytesIO()
    images = [Image.new("RGB", (32, 24), (220, 20, 20) if i == 0 else (20, 60 * i % 255, 200)) for i in range(frames)]
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def mp4() -> bytes:
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "clip.mp4"
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x48:rate=8",
                "-t",
                "1",
                "-pix_fmt",
                "yuv420p",
                "-y",
                str(target),
            ],
            check=True,
        )
        return target.read_bytes()


@dataclass
class Run:
    """How the next queued prompt behaves.

    Attributes:
        outputs: Files the save node writes: (filename, bytes) pairs; the media type follows the suffix.
        node_errors: Answer `POST /prompt` with 400 and these node errors instead of queueing.
        fail_at: Node id where execution raises (an `execution_error`).
        hold: Stay running until interrupted or released (`Script.release`).
        drop_ws: Close the client's websocket once the prompt starts (the run still finishes).
        steps: Sampler steps reported as `progress`.
        output_key: The key the save node lists its files under: `images` (ComfyUI's own save nodes) or
            `gifs` (VideoHelperSuite's `VHS_VideoCombine`, which adds each file's `format`).
    """

    outputs: list[tuple[str, bytes]] = field(default_factory=lambda: [("dyngen_still_00001_.png", png())])
    node_errors: dict[str, Any] | None = None
    fail_at: str | None = None
    hold: bool = False
    drop_ws: bool = False
    steps: int = 4
    output_key: str = "images"


@dataclass
class Script:
    runs: list[Run] = field(default_factory=list)
    prompts: list[dict[str, Any]] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    interrupts: list[Any] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    history: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    pending: list[tuple[int, str, dict[str, Any], str, Run]] = field(default_factory=list)
    running: tuple[int, str, dict[str, Any], str, Run] | None = None
    paused: bool = False  # the queue is slow: nothing starts while paused
    released: set[str] = field(default_factory=set)
    interrupted: set[str] = field(default_factory=set)
    started: threading.Event = field(default_factory=threading.Event)
    queued: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        for name in ("runs", "prompts", "interrupts", "deletes", "views", "headers", "pending"):
            getattr(self, name).clear()
        self.uploads.clear()
        self.history.clear()
        self.files.clear()
        self.released.clear()
        self.interrupted.clear()
        self.running = None
        self.paused = False
        self.started.clear()
        self.queued.clear()


def app_for(script: Script) -> FastAPI:
    numbers = itertools.count(1)
    sockets: dict[str, WebSocket] = {}

    async def send(client_id: str, kind: str, data: dict[str, Any]) -> None:
        socket = sockets.get(client_id)
        if socket is None:
            return
        try:
            await socket.send_text(json.dumps({"type": kind, "data": data}))
        except (RuntimeError, WebSocketDisconnect):
            sockets.pop(client_id, None)

    def queue_remaining() -> int:
        return len(script.pending) + (1 if script.running else 0)

    def now_ms() -> int:
        return int(time.time() * 1000)

    async def execute(item: tuple[int, str, dict[str, Any], str, Run]) -> None:
        _, prompt_id, prompt, client_id, run = item
        script.running = item
        script.started.set()
        messages: list[list[Any]] = []

        async def emit(kind: str, data: dict[str, Any], *, keep: bool = False) -> None:
            data = {**data, "prompt_id": prompt_id}
            if keep:
                messages.append([kind, {**data, "timestamp": now_ms()}])
            await send(client_id, kind, data)

        await emit("execution_start", {"timestamp": now_ms()}, keep=True)
        await emit("execution_cached", {"nodes": [], "timestamp": now_ms()}, keep=True)
        if run.drop_ws and client_id in sockets:
            await sockets.pop(client_id).close()
        outputs: dict[str, Any] = {}
        status = "success"
        for node in prompt:
            if prompt_id in script.interrupted:
                break
            await emit("executing", {"node": node, "display_node": node})
            if node == run.fail_at:
                await emit(
                    "execution_error",
                    {
                        "node_id": node,
                        "node_type": prompt[node]["class_type"],
                        "executed": [],
                        "exception_message": "CUDA out of memory",
                        "exception_type": "torch.OutOfMemoryError",
                        "traceback": ["..."],
                        "current_inputs": {},
                        "current_outputs": {},
                    },
                    keep=True,
                )
                status = "error"
                break
            if prompt[node]["class_type"] == "KSampler":
                for step in range(1, run.steps + 1):
                    await send(
                        client_id, "progress", {"value": step, "max": run.steps, "prompt_id": prompt_id, "node": node}
                    )
                while run.hold and prompt_id not in script.released and prompt_id not in script.interrupted:  # noqa: ASYNC110 - set from the test's thread
                    await asyncio.sleep(0.01)
            if prompt[node]["class_type"] in ("SaveImage", "SaveVideo", "SaveAnimatedWEBP"):
                script.files.update(dict(run.outputs))
                files = [{"filename": name, "subfolder": "", "type": "output"} for name, _ in run.outputs]
                if run.output_key == "gifs":
                    formats = {".gif": "image/gif", ".webp": "image/webp", ".mp4": "video/h264-mp4"}
                    files = [f | {"format": formats.get(Path(f["filename"]).suffix, "")} for f in files]
                outputs[node] = {run.output_key: files}
                await emit("executed", {"node": node, "display_node": node, "output": outputs[node]})
        if prompt_id in script.interrupted and status == "success":
            await emit(
                "execution_interrupted",
                {"node_id": node, "node_type": prompt[node]["class_type"], "executed": [], "timestamp": now_ms()},
                keep=True,
            )
            status = "error"
        elif status == "success":
            await emit("execution_success", {"timestamp": now_ms()}, keep=True)
        await emit("executing", {"node": None})
        script.history[prompt_id] = {
            "prompt": [item[0], prompt_id, prompt, {"client_id": client_id}, list(outputs)],
            "outputs": outputs,
            "status": {"status_str": status, "completed": status == "success", "messages": messages},
            "meta": {},
        }
        script.running = None

    async def worker() -> None:
        while True:
            if script.pending and not script.paused and script.running is None:
                await execute(script.pending.pop(0))
            await asyncio.sleep(0.01)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(worker())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        client_id = socket.query_params.get("clientId") or uuid.uuid4().hex
        await socket.accept()
        sockets[client_id] = socket
        await socket.send_text(
            json.dumps(
                {
                    "type": "status",
                    "data": {"status": {"exec_info": {"queue_remaining": queue_remaining()}}, "sid": client_id},
                }
            )
        )
        try:
            while True:
                await socket.receive_text()
        except WebSocketDisconnect:
            if sockets.get(client_id) is socket:
                sockets.pop(client_id, None)

    @app.post("/prompt")
    async def prompt(request: Request) -> JSONResponse:
        script.headers.append(dict(request.headers))
        body = await request.json()
        script.prompts.append(body)
        run = script.runs.pop(0) if script.runs else Run()
        graph = body.get("prompt")
        if not isinstance(graph, dict):
            error = {
                "type": "invalid_prompt",
                "message": "Cannot execute because the prompt is not an object",
                "details": "",
                "extra_info": {},
            }
            return JSONResponse({"error": error, "node_errors": {}}, status_code=400)
        if run.node_errors:
            error = {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "",
                "extra_info": {},
            }
            return JSONResponse({"error": error, "node_errors": run.node_errors}, status_code=400)
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        number = next(numbers)
        script.pending.append((number, prompt_id, graph, body.get("client_id", ""), run))
        script.queued.set()
        return JSONResponse({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    @app.get("/history/{prompt_id}")
    async def history(prompt_id: str) -> dict[str, Any]:
        return {prompt_id: script.history[prompt_id]} if prompt_id in script.history else {}

    @app.get("/queue")
    async def queue() -> dict[str, Any]:
        def shape(item: tuple[int, str, dict[str, Any], str, Run]) -> list[Any]:
            return [item[0], item[1], item[2], {"client_id": item[3]}, []]

        return {
            "queue_running": [shape(script.running)] if script.running else [],
            "queue_pending": [shape(item) for item in script.pending],
        }

    @app.post("/queue")
    async def queue_edit(request: Request) -> Response:
        body = await request.json()
        for prompt_id in body.get("delete", []):
            script.deletes.append(prompt_id)
            script.pending[:] = [item for item in script.pending if item[1] != prompt_id]
        return Response(status_code=200)

    @app.post("/interrupt")
    async def interrupt(request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        script.interrupts.append(body.get("prompt_id"))
        running = script.running
        if running is not None and body.get("prompt_id") in (None, running[1]):
            script.interrupted.add(running[1])
        return Response(status_code=200)

    @app.post("/upload/image")
    async def upload(request: Request) -> JSONResponse:
        raw = await request.body()
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + raw)
        fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        image = fields.get("image")
        if image is None:
            return JSONResponse({"error": "no image"}, status_code=400)
        name = str(image.get_filename())
        script.uploads[name] = image.get_payload(decode=True)
        return JSONResponse({"name": name, "subfolder": "", "type": "input"})

    @app.get("/system_stats")
    async def system_stats() -> dict[str, Any]:
        return {
            "system": {
                "os": "posix",
                "ram_total": 68719476736,
                "ram_free": 34359738368,
                "comfyui_version": "0.3.60",
                "python_version": "3.12.3",
                "pytorch_version": "2.8.0+cu128",
                "embedded_python": False,
                "argv": ["main.py"],
            },
            "devices": [
                {
                    "name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
                    "type": "cuda",
                    "index": 0,
                    "vram_total": 25757220864,
                    "vram_free": 24000000000,
                    "torch_vram_total": 0,
                    "torch_vram_free": 0,
                }
            ],
        }

    @app.get("/view")
    async def view(filename: str, type: str = "output", subfolder: str = "") -> Response:
        script.views.append(filename)
        data = script.files.get(filename)
        if data is None or type != "output":
            return Response(status_code=404)
        return Response(data, media_type="application/octet-stream")

    return app


class FakeComfyUI:
    """Runs the fake ComfyUI with uvicorn in a thread of its own."""

    def __init__(self) -> None:
        self.script = Script()
        self.port = free_port()
        config = uvicorn.Config(
            app_for(self.script), host="127.0.0.1", port=self.port, log_level="error", ws="websockets-sansio"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: port_open("127.0.0.1", self.port), what="the fake ComfyUI")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
