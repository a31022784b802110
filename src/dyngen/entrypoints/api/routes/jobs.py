"""Job routes: a job's state, its cancellation, and its event stream (Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import StreamingResponse

from dyngen.bootstrap_ports import job_ports
from dyngen.domain.access import Scope
from dyngen.domain.responses import GenerateContentResponse
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.sse import event_stream, resume_after
from dyngen.entrypoints.api.wire import services_of, wire_response
from dyngen.services.jobs import lifecycle as jobs

router = APIRouter(prefix="/api/generation-jobs", tags=["jobs"], dependencies=[require(Scope.RUNTIME)])

JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/{job_id}", response_model=GenerateContentResponse, responses=documented(401, 403, 404, 422))
async def get_job(job_id: JobId, request: Request) -> Response:
    """A job as a `GenerateContentResponse`: queued | processing | complete | failed."""
    services = services_of(request)
    record = await jobs.get_job(job_id=job_id, jobs=services.jobs)
    return wire_response(jobs.job_response(record, media=services.media, clock=services.clock))


@router.post("/{job_id}/cancel", response_model=GenerateContentResponse, responses=documented(401, 403, 404, 422))
async def cancel_job(job_id: JobId, request: Request) -> Response:
    """Cancel a job: a queued one fails at once with GEN_CANCELLED; a running one stops where it runs."""
    services = services_of(request)
    record = await jobs.cancel_job(job_id=job_id, ports=job_ports(services))
    return wire_response(jobs.job_response(record, media=services.media, clock=services.clock))


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **documented(401, 403, 404, 422)},
)
async def job_events(
    job_id: JobId, request: Request, last_event_id: Annotated[str | None, Header()] = None
) -> StreamingResponse:
    """Server-Sent Events: queued, started, progress, cache_hit, fallback_applied, completed, failed.

    The stream ends after `completed` or `failed`; reconnect with `Last-Event-ID` to resume.
    """
    services = services_of(request)
    await jobs.get_job(job_id=job_id, jobs=services.jobs)  # 404 before the stream starts
    after = resume_after(last_event_id)
    return event_stream(
        jobs.stream_events(job_id=job_id, after=after, jobs=services.jobs, notifier=services.notifier),
        about={"job_id": job_id},
    )
