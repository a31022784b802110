"""Scene graphs: authored scenes, the Generation Nodes between them, and plain edges.

The graph is the editor's document and what `dyngen play` walks (spec section 18.5).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, PrivateAttr, model_validator

from dyngen.domain.contracts import (
    CamelModel,
    Character,
    Fallback,
    GenerateContentRequest,
    GenerationNodeConfig,
    GenerationType,
    Id,
    Lexicon,
    LoreEntry,
    PlayerContext,
    SceneRef,
    Simulate,
    SocialContext,
    Style,
    Text,
)
from dyngen.domain.ids import TextChars


class Scene(CamelModel):
    id: Id
    title: Annotated[str, Field(max_length=200), TextChars] = ""
    mood: Id | None = None
    summary: Text | None = None
    location: Id | None = None
    emotional_state: Id | None = None
    image: Id | None = None
    # The ids of the graph's characters present in the scene.
    characters: list[Id] | None = Field(default=None, max_length=50)

    def ref(self) -> SceneRef:
        """The scene as a generation request names it."""
        return SceneRef(
            id=self.id,
            title=self.title or None,
            characters=self.characters or None,
            mood=self.mood,
            summary=self.summary,
            location=self.location,
            emotional_state=self.emotional_state,
            image=self.image,
        )


class GenerationNode(CamelModel):
    """A Generation Node placed between two scenes."""

    id: Id
    from_scene: Id
    to_scene: Id
    config: GenerationNodeConfig


class GenerationEdgeMeta(CamelModel):
    generate: bool = False
    rules: list[Text] | None = Field(default=None, max_length=50)
    fallback: Fallback | None = None


class Edge(CamelModel):
    source: Id
    target: Id
    meta: GenerationEdgeMeta | None = None


class _SceneIndex:
    """Where each scene of a graph is in its `scenes` (`SceneGraph.scene`). Never part of a graph's
    equality: pydantic compares private attributes, and two equal graphs stay equal once one was read."""

    __slots__ = ("positions",)

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SceneIndex)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the graph


class SceneGraph(CamelModel):
    """A whole graph. `start` defaults to the first scene."""

    id: Id
    title: Annotated[str, Field(max_length=200), TextChars] = ""
    start: Id | None = None
    scenes: list[Scene] = Field(max_length=10_000)
    nodes: list[GenerationNode] = Field(default_factory=list, max_length=10_000)
    edges: list[Edge] = Field(default_factory=list, max_length=10_000)
    # The graph's own phrases per element, beside the shipped lexicon (`domain/lexicon.py`): how its
    # writers and its model say `phone_ring` ("her cell trills") counts as mentioning it.
    lexicon: Lexicon | None = None
    # The world its prompts draw on (checked by `domain/world.py`: findings, not refusals to parse).
    characters: list[Character] = Field(default_factory=list, max_length=200)
    lore: list[LoreEntry] = Field(default_factory=list, max_length=500)
    _scene_index: _SceneIndex = PrivateAttr(default_factory=_SceneIndex)

    @model_validator(mode="after")
    def _references_exist(self) -> SceneGraph:
        ids = {s.id for s in self.scenes}
        if len(ids) != len(self.scenes):
            raise ValueError("scene ids must be unique")
        if self.start is not None and self.start not in ids:
            raise ValueError(f"start scene '{self.start}' is not in scenes")
        for node in self.nodes:
            for end in (node.from_scene, node.to_scene):
                if end not in ids:
                    raise ValueError(f"node '{node.id}' names unknown scene '{end}'")
        for edge in self.edges:
            for end in (edge.source, edge.target):
                if end not in ids:
                    raise ValueError(f"edge {edge.source}->{edge.target} names unknown scene '{end}'")
        return self

    def generation_nodes(self) -> list[GenerationNode]:
        """The Generation Nodes, plus an implicit transition node for every edge with `generate: true`
        (moods from its scenes; its `fallback` overrides the default; its `rules` are rule DSL lines, the
        node's `rules` source, see docs/dsl.md)."""
        implicit = [
            GenerationNode(
                id=f"edge:{edge.source}->{edge.target}",
                from_scene=edge.source,
                to_scene=edge.target,
                config=GenerationNodeConfig(
                    id=f"edge:{edge.source}->{edge.target}",
                    generation_type=GenerationType.TRANSITION,
                    style=Style(mood_from=self.scene(edge.source).mood, mood_to=self.scene(edge.target).mood),
                    fallback=edge.meta.fallback or Fallback(),
                    rules="\n".join(edge.meta.rules) if edge.meta.rules else None,
                ),
            )
            for edge in self.edges
            if edge.meta is not None and edge.meta.generate
        ]
        return [*self.nodes, *implicit]

    def scene(self, scene_id: str) -> Scene:
        """The scene of that id (KeyError when there is none), found through an index of positions that is
        checked on every lookup and made again when it is out of date (a scene replaced, removed, added or
        moved in `scenes`): a warm-up of a graph of 1,000 transitions looked each one's two scenes up in a
        scan of the list."""
        scenes, positions = self.scenes, self._scene_index.positions
        at = positions.get(scene_id)
        if at is None or at >= len(scenes) or scenes[at].id != scene_id:
            positions.clear()
            positions.update((s.id, i) for i, s in reversed(list(enumerate(scenes))))  # the first of an id
            at = positions[scene_id]
        return scenes[at]

    def exits(self, scene_id: str) -> list[GenerationNode | Edge]:
        """What can follow a scene, one per target scene, in order: the enabled Generation Nodes leaving it
        (an edge with `generate: true` is one), then the plain edges."""
        found: dict[str, GenerationNode | Edge] = {}
        for node in self.generation_nodes():
            if node.from_scene == scene_id and node.config.enabled:
                found.setdefault(node.to_scene, node)
        for edge in self.edges:
            if edge.source == scene_id:
                found.setdefault(edge.target, edge)
        return list(found.values())

    def next_step(self, scene_id: str) -> GenerationNode | Edge | None:
        """What follows a scene: a Generation Node leaving it (an edge with `generate: true` is one), else a
        plain edge, else nothing."""
        exits = self.exits(scene_id)
        return exits[0] if exits else None


def cast_of(graph: SceneGraph, scenes: list[Scene]) -> list[Character]:
    """The characters present in `scenes`, then those they have a relationship with, in the graph's order
    (a prompt names a relation by name); unknown ids are left out (the graph's findings name them)."""
    present = {c for scene in scenes for c in scene.characters or ()}
    by_id = {c.id: c for c in graph.characters}
    related = {r.to for c in present if c in by_id for r in by_id[c].relationships}
    return [c for c in graph.characters if c.id in present or c.id in related]


def target_of(step: GenerationNode | Edge) -> str:
    """The scene a step leads to."""
    return step.to_scene if isinstance(step, GenerationNode) else step.target


def node_request(
    graph: SceneGraph,
    node: GenerationNode,
    *,
    player_context: PlayerContext | None,
    social_context: SocialContext | None = None,
    simulate: Simulate | None = None,
) -> GenerateContentRequest:
    """The request a player's game sends for `node` between its two scenes: the one request that the
    editor's Test Generation, `dyngen play`, a warm-up and a by-reference call all make, so they share
    cache keys. `social_context` (the player's, when given) replaces the node's own."""
    from_scene, to_scene = graph.scene(node.from_scene), graph.scene(node.to_scene)
    request = GenerateContentRequest.for_node(
        node.config.model_copy(update={"id": node.config.id or node.id}),
        from_scene=from_scene.ref(),
        to_scene=to_scene.ref(),
        player_context=player_context,
        simulate=simulate,
    )
    characters = cast_of(graph, [from_scene, to_scene])
    if characters or graph.lore:
        # Every lore entry goes along: the node's template may add lore tags, so the choice is made once
        # the node is resolved (`world.select_lore`), and only the chosen entries join its cache key.
        request = request.model_copy(update={"characters": characters or None, "lore": list(graph.lore) or None})
    if social_context is not None:
        request = request.model_copy(update={"social_context": social_context})
    if graph.lexicon:
        # Whole: a template may add elements when the node is resolved; the lexicon is in no cache key.
        request = request.model_copy(update={"lexicon": graph.lexicon})
    return request
