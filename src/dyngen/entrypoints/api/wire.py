"""Small glue between FastAPI and the services: the `Services` of a request (and its use cases' ports),
and wire responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request, Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dyngen.bootstrap_ports import generation_ports, play_ports
from dyngen.domain.ids import IdChars
from dyngen.services.generation.ports import GenerationPorts
from dyngen.services.machinery.container import Services
from dyngen.services.play.ports import PlayPorts

# Path and query parameters: the same character rules as the wire models' ids and texts (a 422 naming the
# parameter for a NUL, a control character or a byte that was not UTF-8), whatever database is behind.
PathId = Annotated[str, Path(min_length=1, max_length=200), IdChars]


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def generation_of(request: Request) -> GenerationPorts:
    """Generation's front door ports (built once per `Services`)."""
    return generation_ports(request.app.state.services)


def play_of(request: Request) -> PlayPorts:
    """The ports of playing a stored graph (built once per `Services`)."""
    return play_ports(request.app.state.services)


def wire_response(model: BaseModel, *, status_code: int = 200) -> Response:
    """JSON in the spec's spelling, without empty optional fields, serialised once (no re-validation)."""
    return Response(
        content=model.model_dump_json(by_alias=True, exclude_none=True),
        media_type="application/json",
        status_code=status_code,
    )


BODY_MODELS: list[type[BaseModel]] = []


def json_body(*models: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that reads its JSON body itself: one of `models` (registered as components)."""
    BODY_MODELS.extend(m for m in models if m not in BODY_MODELS)
    refs = [{"$ref": f"#/components/schemas/{m.__name__}"} for m in models]
    schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def body_schemas() -> dict[str, Any]:
    """The JSON Schemas of the models `json_body` named, with everything they reference, as components."""
    _, top = models_json_schema([(m, "validation") for m in BODY_MODELS], ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = top.get("$defs", {})
    return schemas
