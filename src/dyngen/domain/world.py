"""A graph's world: its characters and lore, checked as findings and chosen for a node's prompt.

A graph that names an unknown character, repeats an id or relates a character to one it does not have is
still a graph (it parses); these are findings with field paths in the spec's spelling, errors that block a
save like a node's errors do. `select_lore` is the one rule for which lore a node's prompt gets, applied
once the node is resolved (its template may add `loreTags`), so a node's cache key covers exactly the
entries its prompt can read.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from dyngen.domain.contracts import GenerateContentRequest, LoreEntry, Severity
from dyngen.domain.graph import SceneGraph
from dyngen.domain.responses import ValidationFinding


def _unknown(field: str, code: str, what: str, known: Iterable[str]) -> ValidationFinding:
    close = difflib.get_close_matches(what, list(known), n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ValidationFinding(
        code=code, field=field, message=f"no character '{what}' in the graph{hint}", severity=Severity.ERROR
    )


def _duplicates(kind: str, ids: list[str], code: str) -> list[ValidationFinding]:
    seen: set[str] = set()
    findings: list[ValidationFinding] = []
    for index, item in enumerate(ids):
        if item in seen:
            findings.append(
                ValidationFinding(
                    code=code,
                    field=f"{kind}.{index}.id",
                    message=f"{kind} id '{item}' is used twice",
                    severity=Severity.ERROR,
                )
            )
        seen.add(item)
    return findings


def world_findings(graph: SceneGraph) -> list[ValidationFinding]:
    """Every problem of the graph's characters and lore, and of the characters its scenes name.

    Field paths: `characters.<index>.id`, `characters.<id>.relationships.<index>.to`, `lore.<index>.id`,
    `scenes.<scene id>.characters`.
    """
    ids = [c.id for c in graph.characters]
    known = set(ids)
    findings = _duplicates("characters", ids, "CHARACTER_DUPLICATE_ID")
    findings += _duplicates("lore", [entry.id for entry in graph.lore], "LORE_DUPLICATE_ID")
    for character in graph.characters:
        for index, relation in enumerate(character.relationships):
            if relation.to not in known:
                findings.append(
                    _unknown(
                        f"characters.{character.id}.relationships.{index}.to",
                        "RELATIONSHIP_UNKNOWN_CHARACTER",
                        relation.to,
                        known,
                    )
                )
            elif relation.to == character.id:
                findings.append(
                    ValidationFinding(
                        code="RELATIONSHIP_TO_SELF",
                        field=f"characters.{character.id}.relationships.{index}.to",
                        message=f"'{character.name}' has a relationship with themself",
                        severity=Severity.WARNING,
                    )
                )
    for scene in graph.scenes:
        for name in scene.characters or ():
            if name not in known:
                findings.append(_unknown(f"scenes.{scene.id}.characters", "SCENE_UNKNOWN_CHARACTER", name, known))
    return findings


def lore_tags_of(request: GenerateContentRequest) -> set[str]:
    """The tags that choose a node's lore: its `loreTags`, its scenes' ids and locations, and the ids of
    the characters present in them."""
    tags = set(request.lore_tags or ())
    for scene in (request.from_scene, request.to_scene):
        if scene is not None:
            tags.add(scene.id)
            if scene.location:
                tags.add(scene.location)
            tags.update(scene.characters or ())
    return tags


def chosen_lore(entries: Iterable[LoreEntry], tags: set[str]) -> list[LoreEntry]:
    """The entries a node with `tags` gets: those sharing a tag with it, and those without tags."""
    return [entry for entry in entries if not entry.tags or tags.intersection(entry.tags)]


def select_lore(request: GenerateContentRequest) -> GenerateContentRequest:
    """`request` with only the lore its prompt may read (`chosen_lore`); None when none is chosen."""
    if not request.lore:
        return request
    chosen = chosen_lore(request.lore, lore_tags_of(request))
    if len(chosen) == len(request.lore):
        return request
    return request.model_copy(update={"lore": chosen or None})
