"""A node's template, rules and social context shape what is generated, before the cache key is made:
different outcomes are different keys (issue 6)."""

from __future__ import annotations

from typing import Any

import httpx

SPEC_RULES = """IF player_choice.quest_accept == true
  THEN moodTo = "determined" pacing = "fast"
ELSE
  THEN moodTo = "reflective" pacing = "slow"
INCLUDE callback_to_scene("kiss")
DURATION 20-40s TARGET 30s
CONSTRAINT rating=PG-13 AVOID violence
"""


def request(**extra: Any) -> dict[str, Any]:
    return {
        "type": "transition",
        "node_id": "after_quest",
        "from_scene": {"id": "tavern", "mood": "calm"},
        "to_scene": {"id": "road", "mood": "tense"},
        "strategy": "per_playthrough",
        "player_context": {"playthroughId": "p1"},
        **extra,
    }


async def generated(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/generate-content", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_template_fills_the_node_and_enters_the_key(client: httpx.AsyncClient) -> None:
    body = await generated(client, request(template_id="romantic_to_action_transition_v1"))
    assert body["status"] == "complete"
    assert body["cache_key"].split(";c=")[0].endswith("|1;t=romantic_to_action_transition_v1:1")
    text = " ".join(body["content"]["dialogue"]).lower()
    assert "phone" in text, "the template's required elements are generated"
    record = (await client.get(f"/api/generations/{body['generation_id']}")).json()
    assert record["request"]["constraints"]["rating"] == "PG-13"
    assert record["request"]["duration"]["target"] == 30


async def test_a_nodes_own_fields_win_over_its_template(client: httpx.AsyncClient) -> None:
    body = await generated(
        client, request(template_id="romantic_to_action_transition_v1", duration={"min": 10, "max": 20, "target": 12})
    )
    record = (await client.get(f"/api/generations/{body['generation_id']}")).json()
    assert record["request"]["duration"] == {"min": 10.0, "max": 20.0, "target": 12.0}
    assert record["request"]["style"]["moodTo"] == "intense"  # still the template's


async def test_an_unknown_template_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/generate-content", json=request(template_id="romantic_to_action_v1"))
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "template_id"


async def test_rules_decide_the_content_and_the_key(client: httpx.AsyncClient) -> None:
    accepted = request(rules=SPEC_RULES, player_context={"playthroughId": "p1", "choices": {"quest_accept": True}})
    refused = request(rules=SPEC_RULES, player_context={"playthroughId": "p1", "choices": {"quest_accept": False}})
    yes, no = await generated(client, accepted), await generated(client, refused)
    assert yes["cache_key"] != no["cache_key"], "different outcomes are different keys"
    yes_request = (await client.get(f"/api/generations/{yes['generation_id']}")).json()["request"]
    no_request = (await client.get(f"/api/generations/{no['generation_id']}")).json()["request"]
    assert (yes_request["style"]["moodTo"], yes_request["style"]["pacing"]) == ("determined", "fast")
    assert (no_request["style"]["moodTo"], no_request["style"]["pacing"]) == ("reflective", "slow")
    for applied in (yes_request, no_request):
        assert "kiss_callback" in applied["constraints"]["requiredElements"]
        assert applied["constraints"]["avoidElements"] == ["violence"]
        assert applied["constraints"]["rating"] == "PG-13"
        assert applied["duration"] == {"min": 20.0, "max": 40.0, "target": 30.0}


async def test_rules_that_do_not_compile_are_a_422_with_their_position(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/generate-content", json=request(rules='IF flags.x == \n THEN moodTo = "a"'))
    assert response.status_code == 422
    detail = response.json()["details"][0]
    assert detail["field"] == "rules"
    assert detail["line"] >= 1
    assert "^" in detail["excerpt"]


async def test_the_rating_is_clamped_to_the_users_maximum_and_the_response_says_so(client: httpx.AsyncClient) -> None:
    social = {"userMaxRating": "romantic", "relationshipValues": {"affinity": 85}}
    body = await generated(client, request(constraints={"rating": "PG-13"}, social_context=social))
    assert body["rating"]["effective"] == "PG"
    assert body["rating"]["requested"] == "PG-13"
    assert body["rating"]["clamped"] is True
    record = (await client.get(f"/api/generations/{body['generation_id']}")).json()["request"]
    assert record["constraints"]["rating"] == "PG"
    assert record["social_context"]["relationshipTierId"] == "lover"
    assert record["social_context"]["intimacyBand"] == "light", "a PG rating caps the band"


async def test_a_request_within_its_maximum_is_not_clamped(client: httpx.AsyncClient) -> None:
    body = await generated(
        client, request(constraints={"rating": "PG"}, social_context={"worldMaxRating": "restricted"})
    )
    assert body["rating"] == {"effective": "PG", "requested": "PG", "clamped": False}
