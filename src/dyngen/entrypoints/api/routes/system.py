"""System routes: health, and the service's front page."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dyngen.entrypoints.api.wire import services_of, wire_response
from dyngen.services.health import Health, check_health

router = APIRouter(tags=["system"])


@router.get("/api/health", response_model=Health, responses={503: {"model": Health, "description": "down"}})
async def health(request: Request) -> Response:
    """ok | degraded | down, with each dependency's status and latency."""
    report = await check_health(services=services_of(request))
    return wire_response(report, status_code=503 if report.status == "down" else 200)


@router.get("/api/health/live")
async def live() -> dict[str, str]:
    """Liveness: the process answers (no dependency is checked; `/api/health` does that)."""
    return {"status": "alive"}
