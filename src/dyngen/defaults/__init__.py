"""The defaults dyngen ships as package data: the template library, the example scene graph and the
scene images it names. They are found through `importlib.resources`, so `dyngen serve` has them from any
working directory; settings (`DYNGEN_TEMPLATES_DIR`, `DYNGEN_EXAMPLE_GRAPH`, `DYNGEN_ASSETS_DIR`) point
elsewhere. The repository's `examples/` links to the same files, for the README's and the tutorial's commands.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path


def shipped(name: str) -> Path:
    """The file system path of a shipped default (`templates`, `three_scenes.json`, `assets`).

    A wheel installs package data as files, so the resource is a real path; readers take `Path`s.
    """
    return Path(str(files(__package__) / name))


def templates_dir() -> Path:
    return shipped("templates")


def example_graph() -> Path:
    return shipped("three_scenes.json")


def assets_dir() -> Path:
    return shipped("assets")


_PROMPT_ROLES = ("system", "user", "prompt", "negative_prompt")


@functools.cache
def prompt_templates(generation_type: str) -> dict[str, str]:
    """The shipped prompt template of each role for a generation type (`prompts/`, docs/prompts.md):
    `<type>.<role>.j2` when there is one, else `<role>.j2`; read once per type."""
    folder = files(__package__) / "prompts"
    found: dict[str, str] = {}
    for role in _PROMPT_ROLES:
        for name in (f"{generation_type}.{role}.j2", f"{role}.j2"):
            resource = folder / name
            if resource.is_file():
                found[role] = resource.read_text(encoding="utf-8")
                break
    return found
