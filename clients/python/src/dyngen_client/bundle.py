"""An offline bundle written by `dyngen export` (format `dyngen-bundle/1`): its items, checked by sha256
and size before use, and each node's fallback. The lookup is the format's, and nothing more: the bundle
already holds what the server decided (keys, scopes, fallbacks)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

from dyngen_client.errors import BundleError

FORMAT = "dyngen-bundle/1"


def _context_id(player_context: Optional[Mapping[str, Any]], snake: str, camel: str) -> Optional[str]:
    if not player_context:
        return None
    value = player_context.get(snake, player_context.get(camel))
    return None if value is None else str(value)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Bundle:
    """A bundle folder (`manifest.json` and `files/`).

    Args:
        root: The folder `dyngen export --out` wrote.

    Raises:
        BundleError: No readable manifest, or another format.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        try:
            with open(os.path.join(self.root, "manifest.json"), encoding="utf-8") as handle:
                manifest = json.load(handle)
        except (OSError, ValueError) as error:
            raise BundleError(f"no readable manifest.json in {self.root}: {error}") from error
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else None
            raise BundleError(f"{self.root}: format {found!r}, this client reads {FORMAT!r}")
        self.manifest: Dict[str, Any] = manifest
        self._verified: Dict[Tuple[str, int, int], str] = {}

    @property
    def graph_id(self) -> Optional[str]:
        graph = self.manifest.get("graph") or {}
        return graph.get("id")

    @property
    def items(self) -> List[Dict[str, Any]]:
        return [i for i in self.manifest.get("items") or [] if isinstance(i, dict)]

    def node_between(self, from_scene: str, to_scene: str) -> Optional[str]:
        """The node the bundle holds for the way from one scene to another, if any."""
        return next(
            (i["node_id"] for i in self.items if i.get("from_scene") == from_scene and i.get("to_scene") == to_scene),
            None,
        )

    def _matches(self, item: Mapping[str, Any], player_context: Optional[Mapping[str, Any]]) -> bool:
        scope = item.get("scope") or {}
        if "playthrough_id" in scope:
            return bool(scope["playthrough_id"] == _context_id(player_context, "playthrough_id", "playthroughId"))
        if "player_id" in scope:
            return bool(scope["player_id"] == _context_id(player_context, "player_id", "playerId"))
        return True

    def find(
        self, node_id: str, player_context: Optional[Mapping[str, Any]] = None
    ) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
        """The item's response for this node and player, its URLs made file paths; or None and why not
        (`None` when the bundle simply has no such item, a message when an item was refused)."""
        item = next(
            (i for i in self.items if i.get("node_id") == node_id and self._matches(i, player_context)),
            None,
        )
        if item is None:
            return None, None
        problem = self._check_files(item)
        if problem:
            return None, f"bundle item {node_id!r} refused: {problem}"
        response = item.get("response")
        if not isinstance(response, dict):
            return None, f"bundle item {node_id!r} refused: no response"
        return self._resolved(response), None

    def fallback(self, node_id: str) -> Optional[Dict[str, Any]]:
        """The response the server answers when this node fails (status failed, fallback applied)."""
        fallback = (self.manifest.get("fallbacks") or {}).get(node_id)
        return self._resolved(fallback) if isinstance(fallback, dict) else None

    def path_of(self, relative: str) -> str:
        """A bundle-relative path as an absolute one; refuses a path that leaves the bundle folder."""
        path = os.path.normpath(os.path.join(self.root, relative))
        if os.path.commonpath([path, self.root]) != self.root:
            raise BundleError(f"bundle path {relative!r} leaves the bundle folder")
        return path

    def _check_files(self, item: Mapping[str, Any]) -> Optional[str]:
        for entry in item.get("files") or []:
            try:
                path = self.path_of(str(entry["path"]))
                stat = os.stat(path)
            except (KeyError, OSError, BundleError) as error:
                return f"{entry.get('path')}: {error}"
            if stat.st_size != entry.get("bytes"):
                return f"tampered: {entry['path']} has {stat.st_size} bytes, the manifest says {entry.get('bytes')}"
            key = (path, stat.st_size, stat.st_mtime_ns)
            digest = self._verified.get(key) or file_sha256(path)
            if digest != entry.get("sha256"):
                return f"tampered: {entry['path']} sha256 {digest[:12]}... is not the manifest's"
            self._verified[key] = digest
        return None

    def _resolved(self, response: Mapping[str, Any]) -> Dict[str, Any]:
        resolved = copy.deepcopy(dict(response))
        content = resolved.get("content")
        if isinstance(content, dict) and content.get("url"):
            content["url"] = self._location(str(content["url"]))
        for artifact in resolved.get("artifacts") or []:
            if isinstance(artifact, dict) and artifact.get("url"):
                artifact["url"] = self._location(str(artifact["url"]))
        return resolved

    def _location(self, url: str) -> str:
        return url if "://" in url else self.path_of(url)
