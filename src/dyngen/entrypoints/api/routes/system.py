"""System routes: health, and the service's front page."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dyngen.bootstrap_ports import health_ports
from dyngen.domain.access import Scope
from dyngen.domain.graph import SceneGraph
from dyngen.domain.graph_health import GraphHealth
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.wire import services_of, wire_response
from dyngen.services.reporting.health import Health, check_graph, check_health

router = APIRouter(tags=["system"])


@router.get("/api/health", response_model=Health, responses={503: {"model": Health, "description": "down"}})
async def health(request: Request) -> Response:
    """ok | degraded | down, with each dependency's status and latency."""
    report = await check_health(ports=health_ports(services_of(request)))
    return wire_response(report, status_code=503 if report.status == "down" else 200)


@router.get("/api/health/live")
async def live() -> dict[str, str]:
    """Liveness: the process answers (no dependency is checked; `/api/health` does that)."""
    return {"status": "alive"}


@router.post(
    "/api/health/graph",
    response_model=GraphHealth,
    dependencies=[require(Scope.EDITOR)],
    responses=documented(401, 403, 413, 422),
)
async def graph_health(graph: SceneGraph, request: Request) -> Response:
    """The health panel of a scene graph: every node's status and findings, and graph-wide warnings (too
    many always-fresh nodes, nodes without a usable fallback, p95 latency over timeout, providers down)."""
    return wire_response(await check_graph(graph=graph, ports=health_ports(services_of(request))))
