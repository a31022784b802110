"""Characters, lore and prompt templates as a designer uses them: a graph with a world, saved through the
API, played by reference with a local OpenAI-compatible model (a fake one on loopback that writes from the
prompt it got), previewed in the Prompt view, and checked on save."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.config import Settings
from tests.support.echo_model import EchoModelServer

MARA = "a courier who never sits still"
GUILD = "The rooftops belong to the couriers' guild."
RAIN = "It always rains in Lowtown after midnight."


@pytest.fixture(scope="module")
def model() -> Iterator[EchoModelServer]:
    running = EchoModelServer()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def settings(tmp_path: Path, model: EchoModelServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    config = tmp_path / "dyngen.toml"
    config.write_text(f'[providers.local]\nkind = "openai"\nbase_url = "{model.base_url}"\nmodel = "echo"\n')
    monkeypatch.setenv("DYNGEN_CONFIG", str(config))
    model.log.chats.clear()
    return Settings(data_dir=tmp_path / "data", retry_backoff_ms=1)


def world_graph() -> dict[str, Any]:
    return {
        "id": "courier",
        "title": "The courier",
        "scenes": [
            {
                "id": "cafe_date",
                "title": "Late coffee",
                "mood": "romantic",
                "summary": "You and Mara share a coffee before her last run.",
                "characters": ["mara"],
            },
            {"id": "rooftop_chase", "title": "Rooftops", "mood": "intense", "characters": ["mara", "vex"]},
        ],
        "characters": [
            {
                "id": "mara",
                "name": "Mara",
                "description": MARA,
                "voice": "dry, quick",
                "relationships": [{"to": "vex", "kind": "rival of"}],
            },
            {"id": "vex", "name": "Vex", "description": "the guild's fixer"},
            {"id": "odo", "name": "Odo", "description": "a baker in another story"},
        ],
        "lore": [
            {"id": "guild", "text": GUILD, "tags": ["rooftop_chase"]},
            {"id": "rain", "text": RAIN, "tags": ["night"]},
        ],
        "nodes": [
            {
                "id": "the_call",
                "fromScene": "cafe_date",
                "toScene": "rooftop_chase",
                "config": {
                    "generationType": "transition",
                    "provider": "local",
                    "strategy": "per_playthrough",
                    "constraints": {"requiredElements": ["phone_ring"]},
                },
            }
        ],
    }


async def save(client: httpx.AsyncClient, graph: dict[str, Any]) -> httpx.Response:
    return await client.put(f"/api/graphs/{graph['id']}", json=graph)


async def play(client: httpx.AsyncClient, playthrough: str = "pt-1") -> dict[str, Any]:
    response = await client.post(
        "/api/graphs/courier/nodes/the_call/content", json={"player_context": {"playthroughId": playthrough}}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_characters_and_lore_reach_the_model_and_its_lines_through_the_by_reference_route(
    client: httpx.AsyncClient, model: EchoModelServer
) -> None:
    assert (await save(client, world_graph())).status_code == 200
    answer = await play(client)
    assert answer["status"] == "complete", answer
    assert answer["provider"] == "local"

    [chat] = model.log.chats
    system, user = (m["content"] for m in chat["messages"])
    assert f"Mara: {MARA}." in system
    assert "How they speak: dry, quick." in system
    assert "rival of Vex" in system
    assert GUILD in system, "lore tagged with a scene of the node reaches the model"
    assert RAIN not in system, "lore tagged with nothing of the node stays out"
    assert "Odo" not in system, "a character in neither scene stays out"
    assert '"Late coffee"' in user
    assert '"Rooftops"' in user
    for raw in ("cafe_date", "rooftop_chase", "phone_ring", "the_call"):
        assert raw not in system + user, f"the prompt shows the id {raw!r}"

    beats = answer["content"]["beats"]
    assert any(GUILD[:-1].lower()[1:] in b["text"] for b in beats), "the model's line recalls the lore it was given"
    assert {"speaker": "Mara", "text": "Did you hear the phone ring just now?"}.items() <= next(
        b for b in beats if b.get("speaker") == "Mara"
    ).items()
    assert any(b.get("speaker") == "Vex" for b in beats)


async def test_editing_a_character_or_lore_the_node_uses_makes_new_content_and_other_edits_do_not(
    client: httpx.AsyncClient, model: EchoModelServer
) -> None:
    graph = world_graph()
    await save(client, graph)
    first = await play(client)
    assert (await play(client))["cache"]["hit"] is True

    unused = copy.deepcopy(graph)
    unused["lore"][1]["text"] = "It never rains in Lowtown."
    unused["characters"][2]["description"] = "a baker who left"
    await save(client, unused)
    again = await play(client)
    assert again["cache"]["hit"] is True, "lore and characters the node does not use do not invalidate it"
    assert again["cache_key"] == first["cache_key"]

    edited = copy.deepcopy(unused)
    edited["lore"][0]["text"] = "The rooftops belong to nobody since the guild fell."
    await save(client, edited)
    fresh = await play(client)
    assert fresh["cache"]["hit"] is False
    assert fresh["cache_key"] != first["cache_key"]
    assert any("since the guild fell" in b["text"] for b in fresh["content"]["beats"])

    renamed = copy.deepcopy(edited)
    renamed["characters"][0]["name"] = "Marisol"
    await save(client, renamed)
    after = await play(client)
    assert after["cache"]["hit"] is False
    assert any(b.get("speaker") == "Marisol" for b in after["content"]["beats"])
    assert len(model.log.chats) == 3


async def test_a_nodes_own_template_is_what_the_model_gets(client: httpx.AsyncClient, model: EchoModelServer) -> None:
    graph = world_graph()
    graph["nodes"][0]["config"]["prompt"] = {
        "user": "Scene change: {{ from_scene.title }} to {{ to_scene.title }}.\n"
        "{% for fact in lore_tagged('rooftop_chase') %}Remember: {{ fact.text }}\n{% endfor %}"
        "Flags: {{ player.flags | length }}."
    }
    await save(client, graph)
    await play(client)
    user = model.log.chats[0]["messages"][1]["content"]
    assert user == f"Scene change: Late coffee to Rooftops.\nRemember: {GUILD}\nFlags: 0."


async def test_the_prompt_view_renders_every_role_with_its_variables(client: httpx.AsyncClient) -> None:
    await save(client, world_graph())
    response = await client.post(
        "/api/graphs/courier/nodes/the_call/prompt",
        json={"player_context": {"playthroughId": "pt-1", "flags": {"kissed": True}}},
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["provider"] == "local"
    roles = preview["roles"]
    assert set(roles) == {"system", "user", "prompt", "negativePrompt"}
    assert all(role["default"] for role in roles.values())
    assert MARA in roles["system"]["text"]
    assert "kissed: yes" in roles["user"]["text"]
    assert roles["prompt"]["text"].startswith("Late coffee, romantic: You and Mara share a coffee")
    assert preview["variables"]["from_scene"]["title"] == "Late coffee"
    assert preview["variables"]["lore_tagged"] == "(function)"
    assert "lore_tagged" in preview["variable_help"]
    assert preview["findings"] == []

    draft = await client.post(
        "/api/graphs/courier/nodes/the_call/prompt",
        json={"prompt": {"user": "Hello {{ to_scene.title }}\n{{ scnee.title }}"}},
    )
    assert draft.status_code == 200, draft.text
    body = draft.json()
    assert body["roles"]["user"]["default"] is False
    assert "text" not in body["roles"]["user"], "a template that cannot render has no text"
    [finding] = body["findings"]
    assert finding["field"] == "prompt.user"
    assert finding["code"] == "PROMPT_UNKNOWN_VARIABLE"
    assert finding["message"] == "line 2: unknown variable 'scnee' (did you mean 'scenes'?)"


async def test_an_unsaved_draft_graph_is_previewed(client: httpx.AsyncClient) -> None:
    graph = world_graph()
    graph["scenes"][0]["title"] = "Espresso at dawn"
    response = await client.post("/api/graphs/courier/nodes/the_call/prompt", json={"graph": graph})
    assert response.status_code == 200, response.text
    assert '"Espresso at dawn"' in response.json()["roles"]["user"]["text"]


async def test_saving_refuses_unknown_characters_duplicate_ids_and_broken_templates_with_their_fields(
    client: httpx.AsyncClient,
) -> None:
    graph = world_graph()
    graph["scenes"][1]["characters"] = ["mara", "vexx"]
    graph["characters"][0]["relationships"].append({"to": "nobody", "kind": "owes"})
    graph["lore"].append({"id": "guild", "text": "A second entry with the same id."})
    graph["nodes"][0]["config"]["prompt"] = {"system": "Fine.\n{% if %}"}
    response = await save(client, graph)
    assert response.status_code == 422, response.text
    fields = {d["field"]: d for d in response.json()["details"]}
    assert (
        fields["scenes.rooftop_chase.characters"]["message"] == "no character 'vexx' in the graph (did you mean 'vex'?)"
    )
    assert fields["characters.mara.relationships.1.to"]["code"] == "RELATIONSHIP_UNKNOWN_CHARACTER"
    assert fields["lore.2.id"]["code"] == "LORE_DUPLICATE_ID"
    syntax = fields["nodes.the_call.prompt.system"]
    assert syntax["code"] == "PROMPT_SYNTAX"
    assert syntax["message"].startswith("line 2: ")


async def test_a_flat_request_with_a_template_that_cannot_render_is_refused_before_any_provider(
    client: httpx.AsyncClient, model: EchoModelServer
) -> None:
    response = await client.post(
        "/api/generate-content",
        json={
            "type": "dialogue",
            "provider": "local",
            "from_scene": {"id": "cafe_date", "title": "Late coffee"},
            "prompt": {"user": "Fine\n{{ to_scene.title }} {{ weather }}"},
        },
    )
    assert response.status_code == 422, response.text
    [detail] = response.json()["details"]
    assert (detail["field"], detail["code"]) == ("prompt.user", "PROMPT_UNKNOWN_VARIABLE")
    assert detail["message"].startswith("line 2: unknown variable 'weather'")
    assert model.log.chats == []


async def test_the_rules_overrides_for_the_player_are_a_variable(client: httpx.AsyncClient) -> None:
    graph = world_graph()
    graph["nodes"][0]["config"]["rules"] = 'IF player_choice.quest_accept == true\n  THEN moodTo = "determined"'
    graph["nodes"][0]["config"]["prompt"] = {
        "user": "{{ overrides.style.moodTo if overrides.style is defined else 'unchanged' }} / {{ style.mood_to }}"
    }
    await save(client, graph)

    async def user_for(choices: dict[str, Any]) -> str:
        response = await client.post(
            "/api/graphs/courier/nodes/the_call/prompt", json={"player_context": {"choices": choices}}
        )
        assert response.status_code == 200, response.text
        text: str = response.json()["roles"]["user"]["text"]
        return text

    assert await user_for({"quest_accept": True}) == "determined / determined"
    assert await user_for({"quest_accept": False}) == "unchanged / intense"
