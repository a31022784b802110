"""Generation routes: generate content, validate a node config, invalidate the cache."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from dyngen.domain.contracts import (
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationNodeConfig,
    GenerationValidationResult,
    InvalidateRequest,
    InvalidateResult,
    ValidateConfigRequest,
    load,
)
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.wire import json_body, services_of, wire_response
from dyngen.services import cache, generation, validation

router = APIRouter(prefix="/api", tags=["generation"])


@router.post(
    "/generate-content",
    response_model=GenerateContentResponse,
    responses=documented(403, 413, 422, 503),
    openapi_extra=json_body(GenerateContentRequest),
)
async def generate_content(request: Request) -> Response:
    """Serve a Generation Node's content: from cache, or generated, or the node's fallback."""
    # The service parses the raw body itself: it remembers the parse per body, which makes a hit cheap.
    data = await generation.generate_content_json(body=await request.body(), services=services_of(request))
    return Response(content=data, media_type="application/json")


@router.post(
    "/validate-generation-config",
    response_model=GenerationValidationResult,
    responses=documented(413, 422),
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


@router.post("/cache/invalidate", response_model=InvalidateResult, responses=documented(413, 422, 503))
async def invalidate_cache(payload: InvalidateRequest, request: Request) -> Response:
    """Drop cached content by key, node and/or version, in every tier."""
    services = services_of(request)
    result = await cache.invalidate(query=payload, cache=services.cache, repository=services.repository)
    return wire_response(result)
