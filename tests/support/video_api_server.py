"""A small hosted-video-API protocol server on loopback (submit, poll, download, cancel), scripted per test."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from tests.support.servers import free_port, port_open
from tests.support.waiting import wait_until

# Not a real MP4: the provider passes bytes through, and the tests compare them exactly.
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4096


@dataclass
class Job:
    """How the next submitted job behaves.

    Attributes:
        outcome: `done` (after `polls` status calls), `failed` (with `reason`), `slow` (never finishes),
            or an HTTP status code the submit answers with (`429`).
        polls: Status calls answered `running` before the job is done.
        result_url: The result URL a done job names; default this server's video.
        reason: The failure reason a failed job names.
    """

    outcome: str = "done"
    polls: int = 1
    result_url: str | None = None
    reason: str = "content policy violation"


@dataclass
class Script:
    jobs: list[Job] = field(default_factory=list)
    submits: list[dict[str, Any]] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    cancels: list[str] = field(default_factory=list)
    downloads: int = 0
    running: dict[str, Job] = field(default_factory=dict)
    polled: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        self.polled.clear()
        self.jobs.clear()
        self.submits.clear()
        self.polls.clear()
        self.cancels.clear()
        self.running.clear()
        self.downloads = 0


def app_for(script: Script, base: str) -> FastAPI:
    app = FastAPI()
    ids = itertools.count(1)

    @app.post("/v1/jobs")
    async def submit(request: Request) -> JSONResponse:
        script.submits.append({"body": await request.json(), "authorization": request.headers.get("authorization")})
        job = script.jobs.pop(0) if script.jobs else Job()
        if job.outcome.isdigit():
            return JSONResponse({"error": "scripted"}, status_code=int(job.outcome))
        job_id = f"job-{next(ids)}"
        script.running[job_id] = job
        return JSONResponse({"data": {"id": job_id}})

    @app.get("/v1/jobs/{job_id}")
    async def status(job_id: str) -> JSONResponse:
        job = script.running.get(job_id)
        if job is None:
            return JSONResponse({"error": "unknown job"}, status_code=404)
        seen = script.polls[job_id] = script.polls.get(job_id, 0) + 1
        script.polled.set()
        if job.outcome == "failed":
            return JSONResponse({"state": "failed", "error": job.reason})
        if job.outcome == "slow" or seen <= job.polls:
            return JSONResponse({"state": "running"})
        return JSONResponse({"state": "succeeded", "output": {"url": job.result_url or f"{base}/files/video.mp4"}})

    @app.post("/v1/jobs/{job_id}/cancel")
    async def cancel(job_id: str) -> dict[str, str]:
        script.cancels.append(job_id)
        return {"state": "cancelled"}

    @app.get("/files/video.mp4")
    async def video() -> Response:
        script.downloads += 1
        return Response(VIDEO, media_type="video/mp4")

    @app.get("/redirect")
    async def redirect(to: str) -> RedirectResponse:
        return RedirectResponse(to, status_code=302)

    return app


class VideoApiServer:
    """Runs the scripted server with uvicorn in a thread of its own."""

    def __init__(self) -> None:
        self.script = Script()
        self.port = free_port()
        config = uvicorn.Config(
            app_for(self.script, self.base_url), host="127.0.0.1", port=self.port, log_level="error"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: port_open("127.0.0.1", self.port), what="the video API test server")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
