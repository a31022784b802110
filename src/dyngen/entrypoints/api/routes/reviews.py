"""Quality review and A/B arms: score a generation, compare a node's arms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from dyngen.domain.access import Scope
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import ErrorBody, documented
from dyngen.entrypoints.api.wire import PathId, services_of, wire_response
from dyngen.services.reporting import reviews, telemetry

router = APIRouter(tags=["reviews"], dependencies=[require(Scope.EDITOR)])

GenerationId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
NodeId = PathId


@router.post(
    "/api/generations/{generation_id}/review",
    response_model=reviews.ReviewResult,
    status_code=201,
    responses={
        **documented(401, 403, 404, 413, 422),
        409: {"model": ErrorBody, "description": "The generation has no content of its own to review"},
    },
)
async def review_generation(generation_id: GenerationId, body: reviews.ReviewRequest, request: Request) -> Response:
    """Score a generation 1-5 (`{score, note?, reviewer?}`): the answer has its mean score and review count.
    Scores steer variant selection and show in the node's stats and arms."""
    key_name = getattr(getattr(request.state, "api_key", None), "name", None)
    services = services_of(request)
    result = await reviews.review_generation(
        generation_id=generation_id,
        review=body,
        reviewer=key_name,
        records=services.repository,
        reviews=services.reviews,
        scores=services.scores,
        clock=services.clock,
    )
    return wire_response(result, status_code=201)


@router.get(
    "/api/nodes/{node_id}/arms",
    response_model=telemetry.NodeArms,
    responses=documented(401, 403, 422),
)
async def node_arms(node_id: NodeId, request: Request) -> Response:
    """The node's A/B arms side by side: generations, p50/p95 latency, cost, errors and quality per arm."""
    services = services_of(request)
    arms = await telemetry.arm_stats(
        node_id=node_id, records=services.repository, reviews=services.reviews, nodes=services.nodes
    )
    return wire_response(arms)
