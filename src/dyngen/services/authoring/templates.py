"""The template library listed: every template and every file that did not load (the API and the CLI)."""

from __future__ import annotations

from dyngen.domain.contracts import CamelModel, GenerationType, NodeStatus, Purpose
from dyngen.services.machinery.template_library import TemplateLibrary


class TemplateSummary(CamelModel):
    """One template in a listing."""

    id: str
    generation_type: GenerationType
    purpose: Purpose
    version: int
    status: NodeStatus
    source: str


class TemplateProblemInfo(CamelModel):
    """A template file that did not load: which file, which field, and why."""

    file: str
    field: str
    message: str
    suggestion: str | None = None


class TemplateListing(CamelModel):
    """The library at a glance: the templates, and the files that did not load."""

    templates: list[TemplateSummary]
    problems: list[TemplateProblemInfo]


def listing(*, library: TemplateLibrary) -> TemplateListing:
    """Every template (id, type, purpose, version, status, file) and every load problem."""
    return TemplateListing(
        templates=[
            TemplateSummary(
                id=t.id,
                generation_type=t.config.generation_type,
                purpose=t.config.purpose,
                version=t.config.version,
                status=t.status,
                source=t.source,
            )
            for t in library.list()
        ],
        problems=[
            TemplateProblemInfo(file=p.file, field=p.field, message=p.message, suggestion=p.suggestion)
            for p in library.problems
        ],
    )
