"""Cache invalidation as an editor calls it: by prefix, and the next call regenerates."""

from __future__ import annotations

import httpx


def request(from_scene: str, playthrough: str) -> dict[str, object]:
    return {
        "type": "transition",
        "node_id": f"{from_scene}_exit",
        "from_scene": {"id": from_scene, "mood": "calm"},
        "to_scene": {"id": "street", "mood": "tense"},
        "strategy": "per_playthrough",
        "player_context": {"playthroughId": playthrough},
    }


async def test_invalidating_by_prefix_drops_exactly_the_matching_keys(client: httpx.AsyncClient) -> None:
    cafe = [(await client.post("/api/generate-content", json=request("cafe", p))).json() for p in ("p1", "p2")]
    park = (await client.post("/api/generate-content", json=request("park", "p1"))).json()

    response = await client.post("/api/cache/invalidate", json={"prefix": "transition|gap_fill|cafe|"})

    assert response.status_code == 200
    assert sorted(response.json()["keys"]) == sorted(c["cache_key"] for c in cafe)
    again = (await client.post("/api/generate-content", json=request("cafe", "p1"))).json()
    assert again["cache"]["hit"] is False
    assert again["generation_id"] != cafe[0]["generation_id"]
    still = (await client.post("/api/generate-content", json=request("park", "p1"))).json()
    assert still["cache"] == {"hit": True, "tier": "memory"}
    assert still["generation_id"] == park["generation_id"]
