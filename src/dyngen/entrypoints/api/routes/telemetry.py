"""Telemetry routes: Prometheus metrics and per-node stats."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dyngen.domain.access import Scope
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.wire import PathId, services_of, wire_response
from dyngen.services.reporting import telemetry

router = APIRouter(tags=["telemetry"])


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[require(Scope.ADMIN)],
    responses={200: {"content": {"text/plain": {}}}, **documented(401, 403)},
)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition (summed over this machine's processes in multiprocess mode)."""
    body, content_type = services_of(request).metrics.render()
    return Response(content=body, media_type=content_type)


@router.get(
    "/api/nodes/{node_id}/stats",
    response_model=telemetry.NodeStats,
    dependencies=[require(Scope.EDITOR)],
    responses=documented(401, 403, 422),
)
async def node_stats(node_id: PathId, request: Request) -> Response:
    """Last latency, p50/p95, cache hits and misses, cost and error counts of a node (the editor's badge)."""
    services = services_of(request)
    stats = await telemetry.node_stats(
        node_id=node_id, records=services.repository, reviews=services.reviews, metrics=services.metrics
    )
    return wire_response(stats)
