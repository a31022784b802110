"""Generation routes: generate content, validate a node config, invalidate the cache."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from dyngen.domain.access import Scope
from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig
from dyngen.domain.responses import (
    GenerateContentResponse,
    GenerationValidationResult,
    InvalidateRequest,
    InvalidateResult,
    ValidateConfigRequest,
)
from dyngen.domain.wire import load
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.wire import generation_of, json_body, services_of, wire_response
from dyngen.ports import ApiKey
from dyngen.services.authoring import validation
from dyngen.services.generation import front_door, invalidation
from dyngen.services.generation.front_door import GenerateCall, Queued

router = APIRouter(prefix="/api", tags=["generation"])


@router.post(
    "/generate-content",
    response_model=GenerateContentResponse,
    responses={
        202: {"description": "Queued as a job (with `Prefer: respond-async`)"},
        **documented(401, 403, 409, 413, 415, 422, 429, 503),
    },
    openapi_extra=json_body(GenerateContentRequest),
)
async def generate_content(request: Request, key: Annotated[ApiKey | None, require(Scope.RUNTIME)]) -> Response:
    """Serve a Generation Node's content: from cache, or generated, or the node's fallback.

    With `Prefer: respond-async`: 202 and a job (`Location: /api/generation-jobs/{id}`); an
    `Idempotency-Key` returns the same job for the same body (409 for another body). Needs a runtime key;
    `simulate` needs an editor key. Over the API key's or the player's rate limit: 429 with `Retry-After`.
    """
    return await generate_response(request, key, await request.body())


async def generate_response(request: Request, key: ApiKey | None, body: bytes) -> Response:
    """A generate request's body through the front door, with this request's `Prefer` and
    `Idempotency-Key`: the content (200), or the queued job (202)."""
    call = GenerateCall(
        body=body,
        key=key,
        prefer=request.headers.get("prefer"),
        idempotency_key=request.headers.get("idempotency-key"),
    )
    outcome = await front_door.generate(call, ports=generation_of(request))
    if isinstance(outcome, Queued):
        job = outcome.job
        return JSONResponse(
            {"job_id": job.id, "status": job.status.value},
            status_code=202,
            headers={"Location": f"/api/generation-jobs/{job.id}", "Preference-Applied": "respond-async"},
        )
    return Response(content=outcome.data, media_type="application/json")


@router.post(
    "/validate-generation-config",
    response_model=GenerationValidationResult,
    dependencies=[require(Scope.EDITOR)],
    responses=documented(401, 403, 413, 422),
    openapi_extra=json_body(GenerationNodeConfig, ValidateConfigRequest),
)
async def validate_generation_config(body: Annotated[dict[str, Any], Body()]) -> Response:
    """Lint a node config (or `{config, context}`): status and every finding."""
    parsed = (
        load(ValidateConfigRequest, body)
        if "config" in body
        else ValidateConfigRequest(config=load(GenerationNodeConfig, body))
    )
    return wire_response(validation.validate_node(config=parsed.config, context=parsed.context))


@router.post(
    "/cache/invalidate",
    response_model=InvalidateResult,
    dependencies=[require(Scope.EDITOR)],
    responses=documented(401, 403, 413, 422, 503),
)
async def invalidate_cache(payload: InvalidateRequest, request: Request) -> Response:
    """Drop cached content by key, node and/or version, in every tier."""
    services = services_of(request)
    result = await invalidation.invalidate(query=payload, cache=services.cache, repository=services.repository)
    return wire_response(result)
