"""A node's prompt as a provider would get it, for the editor's Prompt view.

`node_prompt` makes the request a player's game makes for the node (`domain.graph.node_request`, the one
the by-reference route, Test Generation and warm-ups make), resolves it as generation does (template, arm,
rules, social context, lore chosen), and renders every provider role: the node's own template or the
shipped default (`defaults/prompts/`). A draft graph or draft templates can be previewed before saving.
Nothing is generated, cached or recorded.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from dyngen import defaults
from dyngen.domain import prompts
from dyngen.domain.contracts import (
    GenerateContentRequest,
    PlayerContext,
    PromptTemplates,
    Severity,
    SnakeModel,
    SocialContext,
)
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import GenerationNode, SceneGraph, node_request
from dyngen.domain.responses import ValidationFinding
from dyngen.domain.wire import camel
from dyngen.services.generation.request import Preparer
from dyngen.services.play.ports import LiveGraphs


class PromptRequest(SnakeModel):
    """`POST /api/graphs/{graph_id}/nodes/{node_id}/prompt`: whose prompt, and optionally drafts.

    Attributes:
        player_context: The player (their flags, choices and stats feed the node's rules and the prompt).
        social_context: The player's social context, replacing the node's own when given.
        graph_version: A stored version (default: the current one).
        graph: A draft of the graph (the editor's unsaved one) instead of the stored graph.
        prompt: Draft templates for the node, replacing its own.
    """

    player_context: PlayerContext | None = None
    social_context: SocialContext | None = None
    graph_version: int | None = Field(default=None, ge=1, le=2**31)
    graph: SceneGraph | None = None
    prompt: PromptTemplates | None = None


class PromptRole(BaseModel):
    """One role's prompt: its text (None when its template cannot render), its template's source, and
    whether that is the shipped default."""

    text: str | None
    template: str
    default: bool


class PromptPreview(BaseModel):
    """What a node's provider would be told.

    Attributes:
        node_id: The node.
        provider: The provider instance that would make its content.
        roles: Each provider role (`system`, `user`: text providers; `prompt`, `negativePrompt`: video).
        variables: The variables' values for this player (what a template can read).
        variable_help: Every variable's name and what it holds.
        findings: Template problems (syntax, unknown variables, render errors), each with its line.
    """

    node_id: str
    provider: str
    roles: dict[str, PromptRole]
    variables: dict[str, Any]
    variable_help: dict[str, str]
    findings: list[ValidationFinding]


def _node(graph: SceneGraph, node_id: str) -> GenerationNode:
    found = next((n for n in graph.generation_nodes() if n.id == node_id), None)
    if found is None:
        raise DyngenError(
            ErrorCode.NOT_FOUND,
            f"no node {node_id!r} in the draft graph",
            details=[{"field": "node_id", "message": "not in the draft graph", "type": "not_found"}],
        )
    return found


async def node_prompt(
    *, graph_id: str, node_id: str, body: PromptRequest, live_graph: LiveGraphs, preparer: Preparer
) -> PromptPreview:
    """Render every prompt role of a node for a player: the stored graph (`live_graph`) or the draft, its
    request resolved and its provider picked as `preparer` does.

    Raises:
        DyngenError: NOT_FOUND for an unknown graph, version or node; GEN_INVALID_CONFIG for a node that
            does not resolve (an unknown template, rules that do not compile).
    """
    if body.graph is not None:
        graph = body.graph
        node = _node(graph, node_id)
    else:
        live = await live_graph(graph_id=graph_id, version=body.graph_version)
        graph, node = live.graph, live.node(node_id)
    request: GenerateContentRequest = node_request(
        graph, node, player_context=body.player_context, social_context=body.social_context
    )
    if body.prompt is not None:
        request = request.model_copy(update={"prompt": body.prompt})
    resolved = preparer.resolve(request).request
    provider = preparer.providers.select(resolved)
    shipped = defaults.prompt_templates(resolved.type.value)
    values = prompts.variables(resolved)
    findings = prompts.template_findings(resolved.prompt)
    roles: dict[str, PromptRole] = {}
    for role in prompts.ROLES:
        source = prompts.source_for(resolved, role, shipped)
        own = resolved.prompt is not None and getattr(resolved.prompt, role) is not None
        try:
            text: str | None = prompts.render_source(source, values, role=role)
        except DyngenError as exc:
            text = None
            if not any(f.field == f"prompt.{camel(role)}" for f in findings):
                findings.append(
                    ValidationFinding(
                        code="PROMPT_RENDER",
                        field=f"prompt.{camel(role)}",
                        message=exc.message,
                        severity=Severity.ERROR,
                    )
                )
        roles[camel(role)] = PromptRole(text=text, template=source, default=not own)
    return PromptPreview(
        node_id=node.id,
        provider=provider.info.name,
        roles=roles,
        variables=prompts.shown(values),
        variable_help=dict(prompts.VARIABLES),
        findings=findings,
    )
