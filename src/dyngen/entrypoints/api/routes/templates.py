"""Template library routes: the loaded templates (and the files that did not load), one template, and the
lexicon of elements and content rules the editor offers while typing."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dyngen.domain.access import Scope
from dyngen.domain.contracts import GenerationNodeConfig
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.wire import PathId, services_of, wire_response
from dyngen.services.authoring import lexicon, templates

router = APIRouter(tags=["templates"], dependencies=[require(Scope.EDITOR)])

TemplateId = PathId


@router.get("/api/templates", response_model=templates.TemplateListing, responses=documented(401, 403))
async def list_templates(request: Request) -> Response:
    """Every loaded template (id, generationType, purpose, version, status, file), and every template file
    that did not load, with its field and the reason."""
    return wire_response(templates.listing(library=services_of(request).templates))


@router.get(
    "/api/templates/{template_id}", response_model=GenerationNodeConfig, responses=documented(401, 403, 404, 422)
)
async def get_template(template_id: TemplateId, request: Request) -> Response:
    """One template's config, in the spec's spelling (404 for an unknown id, naming the closest one)."""
    return wire_response(services_of(request).templates.get(template_id).config)


@router.get("/api/lexicon", response_model=lexicon.Lexicon, responses=documented(401, 403))
async def get_lexicon(request: Request) -> Response:
    """The elements (the lexicon's, with their phrases, and the template library's) and the content rules
    (the template library's) with where each is from: what the editor offers as a designer types."""
    return wire_response(lexicon.lexicon(library=services_of(request).templates))
