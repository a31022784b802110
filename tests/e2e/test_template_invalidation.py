"""Editing a template invalidates exactly the nodes that use it (its id and version are in their keys)."""

from __future__ import annotations

from typing import Any

import httpx

from dyngen.domain.templates import Template
from dyngen.services.machinery.container import Services
from dyngen.services.machinery.template_library import TemplateLibrary


def node(template_id: str | None, node_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "transition",
        "node_id": node_id,
        "from_scene": {"id": "a"},
        "to_scene": {"id": "b"},
        "strategy": "per_playthrough",
        "player_context": {"playthroughId": "p1"},
    }
    if template_id:
        body["template_id"] = template_id
    else:
        body["purpose"] = "ambient"  # a node of its own, beside the templated one
    return body


async def test_a_new_template_version_changes_only_its_nodes_keys(
    client: httpx.AsyncClient, services: Services
) -> None:
    template = services.templates.get("calm_to_tense_transition_v1")
    templated, plain = node(template.id, "uses_template"), node(None, "plain")
    before = [(await client.post("/api/generate-content", json=b)).json() for b in (templated, plain)]

    edited = template.config.model_copy(update={"version": template.config.version + 1})
    services.templates = TemplateLibrary([Template(config=edited, source=template.source)])
    services.memo = type(services.memo)()  # prepared requests (per body and per body shape) predate the edit

    after = [(await client.post("/api/generate-content", json=b)).json() for b in (templated, plain)]
    assert after[0]["cache_key"] != before[0]["cache_key"]
    assert after[0]["cache"]["hit"] is False, "the templated node is generated afresh"
    assert after[1]["cache_key"] == before[1]["cache_key"]
    assert after[1]["cache"]["hit"] is True, "the other node keeps its cached content"
