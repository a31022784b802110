"""Small glue between FastAPI and the services: the `Services` of a request, and wire responses."""

from __future__ import annotations

from fastapi import Request, Response
from pydantic import BaseModel

from dyngen.services.container import Services


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def wire_response(model: BaseModel, *, status_code: int = 200) -> Response:
    """JSON in the spec's spelling, without empty optional fields, serialised once (no re-validation)."""
    return Response(
        content=model.model_dump_json(by_alias=True, exclude_none=True),
        media_type="application/json",
        status_code=status_code,
    )
