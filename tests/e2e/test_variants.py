"""Variation pools: a node with `variants: N` serves each playthrough one of N distinct variants, stable
across calls, filled lazily, and says which one it served."""

from __future__ import annotations

import httpx


def request(playthrough: str, *, variants: int = 3) -> dict[str, object]:
    return {
        "type": "variation",
        "node_id": "greeting",
        "from_scene": {"id": "gate", "mood": "calm", "location": "city_gate"},
        "to_scene": {"id": "market", "mood": "joyful", "location": "market_square"},
        "strategy": "per_playthrough",
        "variants": variants,
        "player_context": {"playthroughId": playthrough},
    }


async def test_each_playthrough_gets_one_stable_variant_from_a_pool_of_distinct_ones(
    client: httpx.AsyncClient,
) -> None:
    served = {}
    for n in range(24):
        body = (await client.post("/api/generate-content", json=request(f"pt-{n}"))).json()
        served[f"pt-{n}"] = body
        assert body["variant"]["pool_size"] == 3
        assert 0 <= body["variant"]["index"] < 3
    by_index: dict[int, str] = {}
    for body in served.values():
        content = str(body["content"]["dialogue"])
        by_index.setdefault(body["variant"]["index"], content)
        assert by_index[body["variant"]["index"]] == content, "one variant, one content"
    assert len(by_index) == 3, "24 playthroughs reach every variant of a pool of 3"
    assert len(set(by_index.values())) == 3, "the variants are distinct"
    again = (await client.post("/api/generate-content", json=request("pt-5"))).json()
    assert again["variant"] == served["pt-5"]["variant"]
    assert again["content"]["dialogue"] == served["pt-5"]["content"]["dialogue"]
    assert again["cache"]["hit"] is True
    records = (await client.get("/api/generations", params={"node_id": "greeting"})).json()
    assert records["count"] == 3, "the pool fills lazily: one generation per variant, not per playthrough"


async def test_without_a_pool_there_is_no_variant(client: httpx.AsyncClient) -> None:
    body = (await client.post("/api/generate-content", json=request("p1", variants=1))).json()
    assert "variant" not in body
    assert body["cache_key"].split(";c=")[0].endswith("|per_playthrough|p1|1")
