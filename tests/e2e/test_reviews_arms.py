"""A/B arms and quality review over HTTP (spec section 15): a player stays in one arm, arms do not share
cached content, `GET /api/nodes/{id}/arms` compares them; reviewers score generations, the scores show
in the stats and steer which variant of a pool players get."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

ARMS = [
    {"id": "control", "weight": 1},
    {"id": "calm", "weight": 1, "overrides": {"style": {"moodTo": "calm"}}},
]


def armed(player: str, **changes: Any) -> dict[str, Any]:
    return {
        "type": "dialogue",
        "node_id": "greeter",
        "from_scene": {"id": "gate", "mood": "tense"},
        "to_scene": {"id": "market", "mood": "joyful"},
        "style": {"moodFrom": "tense", "moodTo": "joyful"},
        "strategy": "per_player",
        "player_context": {"playerId": player},
        "arms": ARMS,
        **changes,
    }


def pooled(playthrough: str) -> dict[str, Any]:
    return {
        "type": "variation",
        "node_id": "fountain",
        "from_scene": {"id": "gate", "mood": "calm"},
        "to_scene": {"id": "market", "mood": "joyful"},
        "strategy": "per_playthrough",
        "variants": 3,
        "player_context": {"playthroughId": playthrough},
    }


async def generate(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/generate-content", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def review(client: httpx.AsyncClient, generation_id: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/api/generations/{generation_id}/review", json=body)


async def test_each_player_stays_in_one_arm_and_arms_keep_their_own_content(client: httpx.AsyncClient) -> None:
    answers = {f"pl-{n}": await generate(client, armed(f"pl-{n}")) for n in range(16)}
    arms = Counter(a["arm"] for a in answers.values())

    assert set(arms) == {"control", "calm"}
    for player, answer in answers.items():
        again = await generate(client, armed(player))
        assert again["arm"] == answer["arm"]
        assert again["cache"]["hit"] is True
        assert ";a=" + answer["arm"] in answer["cache_key"]  # the arm joins the key's version slot
    calm = next(a for a in answers.values() if a["arm"] == "calm")
    control = next(a for a in answers.values() if a["arm"] == "control")
    assert calm["content"]["metadata"]["mood"] == "calm"  # the arm's override reached the provider
    assert control["content"]["metadata"]["mood"] != "calm"
    record = (await client.get(f"/api/generations/{calm['generation_id']}")).json()
    assert record["arm"] == "calm"


async def test_the_arms_endpoint_compares_the_arms(client: httpx.AsyncClient) -> None:
    saved = await client.put(
        "/api/nodes/greeter/config",
        json={"generationType": "dialogue", "strategy": "per_player", "arms": [*ARMS, {"id": "idle", "weight": 2}]},
    )
    assert saved.status_code == 200, saved.text
    answers = [await generate(client, armed(f"pl-{n}")) for n in range(12)]
    await generate(client, armed("pl-doomed", simulate={"fail_with": "GEN_TIMEOUT"}))
    by_arm = Counter(a["arm"] for a in answers)
    first_calm = next(a for a in answers if a["arm"] == "calm")
    assert (await review(client, first_calm["generation_id"], {"score": 4})).status_code == 201

    found = (await client.get("/api/nodes/greeter/arms")).json()

    assert found["node_id"] == "greeter"
    rows = {row["arm"]: row for row in found["arms"]}
    assert [row["arm"] for row in found["arms"]] == ["control", "calm", "idle"]  # the saved config's order
    assert rows["idle"] == {"arm": "idle", "weight": 2.0, "generations": 0, "cost": 0.0, "errors": 0, "reviews": 0}
    assert sum(rows[a]["generations"] for a in ("control", "calm")) == 13
    doomed_arm = (await generate(client, armed("pl-doomed")))["arm"]
    assert rows[doomed_arm]["errors"] == 1
    assert rows[doomed_arm]["generations"] == by_arm[doomed_arm] + 1
    assert rows["calm"]["mean_review_score"] == 4.0
    assert rows["calm"]["reviews"] == 1
    for arm in ("control", "calm"):
        assert rows[arm]["p50_latency_ms"] <= rows[arm]["p95_latency_ms"]
        assert 0 <= rows[arm]["mean_quality_score"] <= 1


async def test_an_unknown_node_has_no_arms(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/nodes/nobody/arms")).json() == {"node_id": "nobody", "arms": []}


async def test_a_review_answers_201_with_the_mean_and_shows_in_the_node_stats(client: httpx.AsyncClient) -> None:
    made = await generate(client, armed("pl-1"))
    generation_id = made["generation_id"]

    first = await review(client, generation_id, {"score": 5, "note": "lovely", "reviewer": "ana"})
    second = await review(client, generation_id, {"score": 2})

    assert first.status_code == 201
    assert first.json() == {"generation_id": generation_id, "score": 5, "mean_score": 5.0, "reviews": 1}
    assert second.json() == {"generation_id": generation_id, "score": 2, "mean_score": 3.5, "reviews": 2}
    stats = (await client.get("/api/nodes/greeter/stats")).json()
    assert (stats["mean_review_score"], stats["reviews"]) == (3.5, 2)


async def test_a_review_of_an_unknown_generation_is_404(client: httpx.AsyncClient) -> None:
    response = await review(client, "0123456789abcdef", {"score": 3})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_a_score_outside_one_to_five_is_422(client: httpx.AsyncClient) -> None:
    generation_id = (await generate(client, armed("pl-1")))["generation_id"]

    for bad in ({"score": 0}, {"score": 6}, {"score": 3.5}, {"score": "4"}, {}, {"score": 3, "stars": 3}):
        response = await review(client, generation_id, bad)
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "GEN_INVALID_CONFIG"
    assert (await client.get("/api/nodes/greeter/stats")).json()["reviews"] == 0


async def test_a_generation_that_fell_back_cannot_be_reviewed(client: httpx.AsyncClient) -> None:
    failed = await generate(client, armed("pl-1", simulate={"fail_with": "GEN_EMPTY_OUTPUT"}))

    response = await review(client, failed["generation_id"], {"score": 1})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"


async def test_reviews_steer_which_variant_new_players_get(client: httpx.AsyncClient) -> None:
    before = {n: await generate(client, pooled(f"pt-{n}")) for n in range(12)}
    by_index = {a["variant"]["index"]: a["generation_id"] for a in before.values()}
    assert set(by_index) == {0, 1, 2}
    for _ in range(3):  # three reviews (the minimum) below the threshold of 2
        assert (await review(client, by_index[0], {"score": 1})).status_code == 201

    after = [await generate(client, pooled(f"pt-{n}")) for n in range(12)]

    assert all(a["variant"]["index"] != 0 for a in after)  # the variant left the pool
    moved = [n for n in range(12) if before[n]["variant"]["index"] == 0]
    assert moved, "some playthroughs had variant 0 before"
    kept = [n for n in range(12) if before[n]["variant"]["index"] != 0]
    assert all(after[n]["variant"] == before[n]["variant"] for n in kept)  # only the dropped one's players move
    records = (await client.get("/api/generations", params={"node_id": "fountain"})).json()
    assert records["count"] == 3  # moving players reuses the other variants' content
