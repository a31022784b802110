"""What the `dyngen` commands read from the user's files: JSON, scene graphs; and how they refuse (exit 2).

A file of the wrong kind is named as what it is (`this is a node config, not a graph`), with the command
that takes it, instead of a list of the graph fields it lacks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig
from dyngen.domain.errors import DyngenError
from dyngen.domain.graph import SceneGraph
from dyngen.domain.wire import load


def fail(message: str, details: list[dict[str, Any]] | None = None, *, code: int = 2) -> typer.Exit:
    """Print `error: message` (and each detail) on stderr; the caller raises the returned Exit."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    for detail in details or []:
        typer.echo(f"  - {detail.get('field', '')}: {detail.get('message', '')}", err=True)
    return typer.Exit(code)


def read_json(path: Path) -> Any:
    """The JSON document in `path`, or exit 2 saying why it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise fail(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise fail(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None


def _kind(data: Any) -> str | None:
    """What a document that is not a scene graph is, when it is one of dyngen's other inputs."""
    if not isinstance(data, dict) or "scenes" in data:
        return None
    for model, kind in ((GenerationNodeConfig, "node config"), (GenerateContentRequest, "generate request")):
        try:
            load(model, data)
        except DyngenError:
            continue
        return kind
    return None


def read_graph(path: Path, *, command: str) -> SceneGraph:
    """The scene graph in `path`, or exit 2: unreadable, invalid (every finding), or another kind of file."""
    data = read_json(path)
    kind = _kind(data)
    if kind == "node config":
        raise fail(
            f"{path}: this is a node config, not a graph; `dyngen {command}` takes a scene graph (scenes, nodes, "
            f"edges). Check a node with `dyngen validate {path}`, or generate it with `dyngen generate` and a request."
        )
    if kind == "generate request":
        raise fail(
            f"{path}: this is a generate request, not a graph; `dyngen {command}` takes a scene graph (scenes, "
            f"nodes, edges). Run a request with `dyngen generate {path}`."
        )
    try:
        return load(SceneGraph, data)
    except DyngenError as exc:
        raise fail(exc.message, exc.details) from None
