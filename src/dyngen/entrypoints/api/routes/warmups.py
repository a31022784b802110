"""Warm-up routes: start a warm-up of a stored graph, read its report, cancel it, follow its events (SSE)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import StreamingResponse

from dyngen.bootstrap_ports import preparer
from dyngen.domain.access import Scope
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.sse import event_stream, resume_after
from dyngen.entrypoints.api.wire import PathId, services_of
from dyngen.services.warmup import runs as warmup
from dyngen.services.warmup.runs import WarmRequest, WarmupReport

router = APIRouter(tags=["warm-up"], dependencies=[require(Scope.EDITOR)])

GraphId = PathId
WarmupId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _report(report: WarmupReport, *, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Every field is sent, nulls included (`started_at`, `finished_at` before the run starts or ends).
    return Response(
        content=report.model_dump_json(), media_type="application/json", status_code=status_code, headers=headers
    )


@router.post("/api/graphs/{graph_id}/warm", status_code=202, responses=documented(401, 403, 404, 413, 422))
async def warm_graph(graph_id: GraphId, request: Request, body: WarmRequest | None = None) -> Response:
    """Queue a warm-up of the graph's current version: 202 `{warmup_id, status}` and a `Location`.

    Body (optional): `playthrough` (scene ids in play order: warm only the transitions on that path),
    `concurrency` (provider runs at once, 1..256, default 8), `playthrough_id` / `player_id` (warm `per_playthrough` /
    `per_player` nodes for that playthrough or player; without them those nodes are skipped).
    """
    key = getattr(request.state, "api_key", None)  # set by `require`; None while keys are not enforced
    services = services_of(request)
    run = await warmup.warm_stored_graph(
        graph_id=graph_id,
        body=body or WarmRequest(),
        api_key_id=getattr(key, "id", None),
        graphs=services.graphs,
        preparer=preparer(services),
        warmups=services.warmups,
        notifier=services.notifier,
        clock=services.clock,
    )
    location = f"/api/warmups/{run.id}"
    return Response(
        content=json.dumps({"warmup_id": run.id, "status": run.status.value}),
        media_type="application/json",
        status_code=202,
        headers={"Location": location},
    )


@router.get("/api/warmups/{warmup_id}", response_model=WarmupReport, responses=documented(401, 403, 404, 422))
async def get_warmup(warmup_id: WarmupId, request: Request) -> Response:
    """A warm-up's report: status (queued, running, complete, failed, cancelled), items generated, cached
    and pending, failures by error code, the cost of its generations, and the nodes it skipped and why."""
    return _report(await warmup.get_report(warmup_id=warmup_id, warmups=services_of(request).warmups))


@router.post("/api/warmups/{warmup_id}/cancel", response_model=WarmupReport, responses=documented(401, 403, 404, 422))
async def cancel_warmup(warmup_id: WarmupId, request: Request) -> Response:
    """Cancel a warm-up (a queued one at once, a running one where it runs); what finished stays warm."""
    services = services_of(request)
    report = await warmup.cancel_warmup(
        warmup_id=warmup_id,
        warmups=services.warmups,
        notifier=services.notifier,
        clock=services.clock,
        running=services.running,
    )
    return _report(report)


@router.get(
    "/api/warmups/{warmup_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **documented(401, 403, 404, 422)},
)
async def warmup_events(
    warmup_id: WarmupId, request: Request, last_event_id: Annotated[str | None, Header()] = None
) -> StreamingResponse:
    """Server-Sent Events: `progress` (counts), `item` (one transition's outcome), `completed` (the final
    report, whatever the final status). Reconnect with `Last-Event-ID` to resume."""
    services = services_of(request)
    await warmup.get_warmup(warmup_id=warmup_id, warmups=services.warmups)  # 404 before the stream starts
    after = resume_after(last_event_id)
    return event_stream(
        warmup.stream_events(warmup_id=warmup_id, after=after, warmups=services.warmups, notifier=services.notifier),
        about={"warmup_id": warmup_id},
    )
