"""A ComfyUI workflow in API format and its input map: loading, filling in, reading outputs.

The API format is `{node_id: {"class_type": ..., "inputs": {name: value | [node_id, output_index]}}}`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dyngen import defaults
from dyngen.adapters.providers.comfyui.settings import INPUT_KEYS

EXAMPLE = "example:"
VIDEO_SUFFIXES = {".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime"}
IMAGE_SUFFIXES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


@dataclass(frozen=True, slots=True)
class Target:
    """One node input: `node` id and `input` name."""

    node: str
    input: str


@dataclass(frozen=True, slots=True)
class OutputFile:
    """A file a workflow wrote, as `/history` names it (fetched from `/view` with these fields)."""

    node: str
    filename: str
    subfolder: str
    type: str

    @property
    def media_type(self) -> str | None:
        suffix = Path(self.filename).suffix.lower()
        return VIDEO_SUFFIXES.get(suffix) or IMAGE_SUFFIXES.get(suffix)


@dataclass(frozen=True, slots=True)
class Workflow:
    """A loaded workflow and its input map."""

    graph: dict[str, Any]
    inputs: dict[str, list[Target]] = field(default_factory=dict)

    def read(self, key: str) -> Any:
        """The current value of the first input mapped to `key` (None when unmapped)."""
        for target in self.inputs.get(key, []):
            return self.graph[target.node]["inputs"].get(target.input)
        return None

    def filled(self, values: dict[str, Any]) -> dict[str, Any]:
        """A copy of the graph with each mapped input set to its value (keys absent or None left alone)."""
        graph = copy.deepcopy(self.graph)
        for key, value in values.items():
            if value is None:
                continue
            for target in self.inputs.get(key, []):
                graph[target.node]["inputs"][target.input] = value
        return graph


def load(workflow: str, inputs: dict[str, str | list[str]] | None) -> Workflow:
    """The workflow at `workflow` (a path, or `example:<name>` shipped with dyngen) with its input map.

    Raises:
        ValueError: A missing or malformed file, or a map naming a node or input that is not there.
    """
    if workflow.startswith(EXAMPLE):
        path = defaults.shipped("comfyui") / f"{workflow[len(EXAMPLE) :]}.json"
    else:
        path = Path(workflow).expanduser()
    graph = _read_json(path, "workflow")
    if not isinstance(graph, dict) or not all(isinstance(n, dict) and "class_type" in n for n in graph.values()):
        raise ValueError(
            f"{path} is not a workflow in ComfyUI's API format (export it with 'Save (API)'): "
            "every node needs a class_type"
        )
    if inputs is None:
        map_path = path.with_name(path.stem + ".inputs.json")
        inputs = _read_json(map_path, "input map") if map_path.exists() else {}
    return Workflow(graph=graph, inputs=_targets(graph, inputs or {}, path))


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"the ComfyUI {what} {path} cannot be read: {exc.strerror}") from exc
    except ValueError as exc:
        raise ValueError(f"the ComfyUI {what} {path} is not JSON: {exc}") from exc


def _targets(graph: dict[str, Any], inputs: dict[str, Any], path: Path) -> dict[str, list[Target]]:
    targets: dict[str, list[Target]] = {}
    for key, raw in inputs.items():
        if key not in INPUT_KEYS:
            raise ValueError(f"input map of {path}: unknown key {key!r}; known: {list(INPUT_KEYS)}")
        for spec in [raw] if isinstance(raw, str) else list(raw):
            node, sep, name = str(spec).partition(".")
            if not sep or node not in graph:
                raise ValueError(f"input map of {path}: {key} -> {spec!r} names no node of the workflow")
            if name not in graph[node].get("inputs", {}):
                raise ValueError(
                    f"input map of {path}: {key} -> {spec!r}: node {node} ({graph[node]['class_type']}) "
                    f"has no input {name!r}"
                )
            targets.setdefault(key, []).append(Target(node, name))
    return targets


def outputs(history_entry: dict[str, Any]) -> list[OutputFile]:
    """Every output file of a finished prompt, in node order: `images`, `gifs` (VideoHelperSuite), `videos`
    and any other list of `{filename, subfolder, type}` a node reports."""
    found: list[OutputFile] = []
    nodes = history_entry.get("outputs") or {}
    for node in sorted(nodes, key=lambda n: (len(n), n)):
        for items in (nodes[node] or {}).values():
            if not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    found.append(
                        OutputFile(
                            node=node,
                            filename=item["filename"],
                            subfolder=str(item.get("subfolder") or ""),
                            type=str(item.get("type") or "output"),
                        )
                    )
    return [f for f in found if f.type == "output"] or found
