"""Fakes of hosted video APIs, following each vendor's documented request and response shapes.

- Replicate (https://replicate.com/docs/reference/http): `POST /v1/models/{owner}/{name}/predictions`
  and `POST /v1/predictions` (with `version`) answer 201 with a prediction (`id`, `status`, `output`,
  `error`, `urls.get`, `urls.cancel`); `Prefer: wait` answers with the finished prediction; `GET
  /v1/predictions/{id}`; `POST /v1/predictions/{id}/cancel`. Auth: `Authorization: Bearer <token>`.
- fal (https://docs.fal.ai/model-endpoints/queue): `POST /{model id}` answers `request_id`,
  `response_url`, `status_url`, `cancel_url`, `queue_position`; `GET .../requests/{id}/status` answers
  IN_QUEUE, IN_PROGRESS or COMPLETED; `GET .../requests/{id}` the result (`video.url`); `PUT
  .../requests/{id}/cancel` 202 CANCELLATION_REQUESTED. Auth: `Authorization: Key <key>`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from tests.support.servers import free_port, port_open
from tests.support.waiting import wait_until

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64
TOKEN = "r8_secret_token_0123456789"
FAL_KEY = "fal-key-id:fal-secret-0123456789"


@dataclass
class Job:
    """How the next job behaves: `polls` status answers before it is done, `failed` with `reason`, `slow`
    (never finishes); `output_list` makes Replicate's output a list; `job_host` puts its URLs elsewhere;
    `result_base` names the result files on another root (`http://localhost:<port>`)."""

    polls: int = 1
    outcome: str = "done"
    reason: str = "NSFW content detected"
    output_list: bool = False
    job_host: str | None = None
    chunked: bool = False  # the result is sent without a Content-Length
    result_base: str | None = None


@dataclass
class Script:
    jobs: list[Job] = field(default_factory=list)
    submits: list[dict[str, Any]] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    cancels: list[tuple[str, str]] = field(default_factory=list)
    running: dict[str, Job] = field(default_factory=dict)

    def reset(self) -> None:
        self.jobs.clear()
        self.submits.clear()
        self.polls.clear()
        self.cancels.clear()
        self.running.clear()


def app_for(script: Script, base: str) -> FastAPI:
    app = FastAPI()
    ids = itertools.count(1)

    def record(request: Request, body: Any, vendor: str, path: str) -> None:
        script.submits.append({"vendor": vendor, "path": path, "body": body, "headers": dict(request.headers)})

    # --- Replicate ---

    def prediction(job_id: str, status: str, job: Job, body: dict[str, Any]) -> dict[str, Any]:
        host = job.job_host or base
        output: Any = None
        if status == "succeeded":
            files = job.result_base or base
            url = f"{files}/{'chunked' if job.chunked else 'files'}/{job_id}.mp4"
            output = [url, f"{files}/files/{job_id}-2.mp4"] if job.output_list else url
        return {
            "id": job_id,
            "model": "owner/model",
            "version": body.get("version", "dp-abc"),
            "input": body.get("input", {}),
            "logs": "",
            "output": output,
            "data_removed": False,
            "error": job.reason if status == "failed" else None,
            "status": status,
            "created_at": "2026-12-02T07:00:00.000Z",
            "urls": {
                "get": f"{host}/v1/predictions/{job_id}",
                "cancel": f"{host}/v1/predictions/{job_id}/cancel",
                "stream": f"{host}/stream/{job_id}",
            },
        }

    async def create(request: Request, path: str) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse(
                {
                    "title": "Unauthenticated",
                    "detail": f"Invalid token {request.headers.get('authorization')}",
                    "status": 401,
                },
                status_code=401,
            )
        body = await request.json()
        record(request, body, "replicate", path)
        job = script.jobs.pop(0) if script.jobs else Job()
        job_id = f"pred{next(ids)}"
        script.running[job_id] = job
        status = "starting"
        if request.headers.get("prefer", "").startswith("wait") and job.outcome == "done":
            status = "succeeded"
        return JSONResponse(prediction(job_id, status, job, body), status_code=201)

    @app.post("/v1/models/{owner}/{name}/predictions")
    async def create_official(owner: str, name: str, request: Request) -> JSONResponse:
        return await create(request, f"/v1/models/{owner}/{name}/predictions")

    @app.post("/v1/predictions")
    async def create_versioned(request: Request) -> JSONResponse:
        return await create(request, "/v1/predictions")

    @app.get("/v1/predictions/{job_id}")
    async def get_prediction(job_id: str, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"detail": "Unauthenticated"}, status_code=401)
        job = script.running[job_id]
        seen = script.polls[job_id] = script.polls.get(job_id, 0) + 1
        if job.outcome == "failed":
            status = "failed"
        elif job.outcome == "slow" or seen <= job.polls:
            status = "processing"
        else:
            status = "succeeded"
        return JSONResponse(prediction(job_id, status, job, {}))

    @app.post("/v1/predictions/{job_id}/cancel")
    async def cancel_prediction(job_id: str) -> JSONResponse:
        script.cancels.append(("POST", job_id))
        return JSONResponse(prediction(job_id, "canceled", script.running[job_id], {}))

    # --- fal ---

    @app.get("/files/{name}")
    async def files(name: str) -> Response:
        return Response(VIDEO, media_type="video/mp4")

    @app.get("/chunked/{name}")
    async def chunked(name: str) -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for start in range(0, len(VIDEO), 4096):
                yield VIDEO[start : start + 4096]

        return StreamingResponse(parts(), media_type="video/mp4")

    @app.get("/{owner}/{app_name}/requests/{request_id}/status")
    async def fal_status(owner: str, app_name: str, request_id: str, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Key {FAL_KEY}":
            return JSONResponse({"detail": "Unauthorized"}, status_code=401)
        job = script.running[request_id]
        seen = script.polls[request_id] = script.polls.get(request_id, 0) + 1
        response_url = f"{base}/{owner}/{app_name}/requests/{request_id}"
        if job.outcome == "slow" or seen <= job.polls:
            state = "IN_QUEUE" if seen == 1 else "IN_PROGRESS"
            return JSONResponse({"status": state, "queue_position": 0, "response_url": response_url}, status_code=202)
        return JSONResponse({"status": "COMPLETED", "logs": None, "response_url": response_url})

    @app.get("/{owner}/{app_name}/requests/{request_id}")
    async def fal_result(owner: str, app_name: str, request_id: str) -> JSONResponse:
        job = script.running[request_id]
        if job.outcome == "failed":
            return JSONResponse({"detail": job.reason}, status_code=422)
        return JSONResponse(
            {
                "video": {
                    "url": f"{job.result_base or base}/files/{request_id}.mp4",
                    "content_type": "video/mp4",
                    "file_size": len(VIDEO),
                },
                "seed": 42,
            }
        )

    @app.put("/{owner}/{app_name}/requests/{request_id}/cancel")
    async def fal_cancel(owner: str, app_name: str, request_id: str) -> JSONResponse:
        script.cancels.append(("PUT", request_id))
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)

    @app.post("/{model_path:path}")
    async def fal_submit(model_path: str, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Key {FAL_KEY}":
            return JSONResponse({"detail": "Unauthorized"}, status_code=401)
        body = await request.json()
        record(request, body, "fal", f"/{model_path}")
        job = script.jobs.pop(0) if script.jobs else Job()
        request_id = f"req-{next(ids)}"
        script.running[request_id] = job
        app_id = "/".join(model_path.split("/")[:2])
        root = f"{job.job_host or base}/{app_id}/requests/{request_id}"
        return JSONResponse(
            {
                "request_id": request_id,
                "response_url": root,
                "status_url": f"{root}/status",
                "cancel_url": f"{root}/cancel",
                "queue_position": 0,
            }
        )

    return app


class FakeVendors:
    """Runs both vendor fakes on one loopback port, with uvicorn in a thread of its own."""

    def __init__(self) -> None:
        self.script = Script()
        self.port = free_port()
        config = uvicorn.Config(app_for(self.script, self.url), host="127.0.0.1", port=self.port, log_level="error")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: port_open("127.0.0.1", self.port), what="the vendor fakes")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
