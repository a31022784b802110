"""An offline bundle in format `dyngen-bundle/1` (/work/notes/bundle-format.md), written from a real
server's answers, for the clients' offline tests: the same files and manifest `dyngen export` writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx

from tests.clients.conftest import STORY

EXTENSIONS = {
    "video/mp4": "mp4",
    "image/jpeg": "jpg",
    "image/png": "png",
    "text/vtt": "vtt",
    "application/json": "json",
}
SCOPES = {"per_playthrough": ("playthrough_id", "playthroughId"), "per_player": ("player_id", "playerId")}


def _node(node_id: str) -> dict[str, Any]:
    return next(n for n in STORY["nodes"] if n["id"] == node_id)


def write_bundle(
    out: Path, *, base: str, plays: list[tuple[str, dict[str, Any]]], fallbacks: dict[str, dict[str, Any]]
) -> Path:
    """Ask the server for each (node, player context), keep its files under `files/` and write the manifest."""
    (out / "files").mkdir(parents=True, exist_ok=True)
    items = []
    for node_id, context in plays:
        answer = httpx.post(
            f"{base}/api/graphs/{STORY['id']}/nodes/{node_id}/content", json={"player_context": context}, timeout=120
        )
        assert answer.status_code == 200, answer.text
        response = answer.json()
        assert response["status"] == "complete", response
        links = response.get("artifacts") or [
            {
                "role": "video" if response["content"]["type"] == "video" else "script",
                "url": response["content"]["url"],
                "media_type": "video/mp4" if response["content"]["type"] == "video" else "application/json",
            }
        ]
        files = []
        for link in links:
            data = httpx.get(httpx.URL(base).join(link["url"]), timeout=60).content
            digest = hashlib.sha256(data).hexdigest()
            path = f"files/{digest[:16]}.{EXTENSIONS[link['media_type']]}"
            (out / path).write_bytes(data)
            files.append(
                {
                    "role": link["role"],
                    "path": path,
                    "media_type": link["media_type"],
                    "sha256": digest,
                    "bytes": len(data),
                }
            )
            if response["content"].get("url") == link["url"]:
                response["content"]["url"] = path
            link["url"] = path
        node = _node(node_id)
        strategy = node["config"]["strategy"]
        scope = {}
        if strategy in SCOPES:
            snake, camel = SCOPES[strategy]
            scope = {snake: context.get(camel)}
        items.append(
            {
                "node_id": node_id,
                "from_scene": node["fromScene"],
                "to_scene": node["toScene"],
                "cache_key": response["cache_key"],
                "strategy": strategy,
                "scope": scope,
                "kind": response["content"]["type"],
                "files": files,
                "response": response,
            }
        )
    manifest = {
        "format": "dyngen-bundle/1",
        "dyngen_version": "test",
        "created_at": "2026-01-01T00:00:00Z",
        "graph": {"id": STORY["id"], "version": 1, "start_scene": STORY["start"]},
        "scopes": {"playthrough_ids": [], "player_ids": []},
        "items": items,
        "fallbacks": fallbacks,
        "always_nodes": [],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


def failed(node_id: str, content: dict[str, Any] | None, mode: str) -> dict[str, Any]:
    """A node's fallback as the format carries it (status failed, fallback applied, reason offline)."""
    return {
        "status": "failed",
        "content": content,
        "cache_key": f"fallback:{node_id}",
        "cache": {"hit": False},
        "cost": {"tokens": 0, "time_ms": 0.0},
        "deterministic": True,
        "fallback": {"applied": True, "mode": mode, "reason": "offline"},
        "error": {"code": "GEN_PROVIDER_UNAVAILABLE", "message": "offline"},
    }


def story_fallbacks() -> dict[str, dict[str, Any]]:
    return {
        "harbor_to_storm": failed("harbor_to_storm", {"type": "video", "content_id": "storm_cut"}, "default_content"),
        "storm_to_shore": failed("storm_to_shore", None, "skip"),
    }
