"""A reference reader of a dyngen offline bundle (docs/bundle.md), standard library only.

    python bundle_reader.py BUNDLE_DIR NODE_ID [--playthrough-id ID] [--player-id ID]

prints the response a game plays for that node: the bundle's item for the player (every file's sha256
and size checked first; a file that does not match refuses the item), else the node's fallback. This is
the lookup every client does; a client with a server configured asks the server before the fallback.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any


class TamperedError(Exception):
    """A file of the item does not match the manifest's sha256 or size."""


def matches(scope: dict[str, str], player_context: dict[str, str]) -> bool:
    """once: {} matches everyone; otherwise the named id must be the player's."""
    return all(player_context.get(key) == value for key, value in scope.items())


def verify(bundle: Path, item: dict[str, Any]) -> None:
    for entry in item["files"]:
        data = (bundle / entry["path"]).read_bytes()
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise TamperedError(entry["path"])


def play_node(bundle: Path, node_id: str, player_context: dict[str, str]) -> dict[str, Any]:
    """The item's response (URLs made absolute file paths), or the node's fallback, as data."""
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    if manifest["format"] != "dyngen-bundle/1":
        raise ValueError(f"not a bundle this reader knows: {manifest['format']}")
    for item in manifest["items"]:
        if item["node_id"] != node_id or not matches(item["scope"], player_context):
            continue
        try:
            verify(bundle, item)
        except (TamperedError, OSError) as exc:
            print(f"refused {node_id}: tampered ({exc})", file=sys.stderr)
            break
        response = json.loads(json.dumps(item["response"]))
        content = response.get("content") or {}
        if content.get("url"):
            content["url"] = str(bundle / content["url"])
        for artifact in response.get("artifacts") or []:
            artifact["url"] = str(bundle / artifact["url"])
        return {"source": "bundle", "response": response}
    return {"source": "fallback", "response": manifest["fallbacks"][node_id]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle", type=Path)
    parser.add_argument("node_id")
    parser.add_argument("--playthrough-id")
    parser.add_argument("--player-id")
    args = parser.parse_args()
    context = {k: v for k, v in {"playthrough_id": args.playthrough_id, "player_id": args.player_id}.items() if v}
    print(json.dumps(play_node(args.bundle, args.node_id, context), indent=2))


if __name__ == "__main__":
    main()
