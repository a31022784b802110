"""The game runtime's wire models: ask for a stored node's content by reference, advance through a
stored graph one step at a time (spec: the game names the node; the server knows its config)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from dyngen.domain.contracts import Id, PlayerContext, SnakeModel, SocialContext
from dyngen.domain.graph import Scene
from dyngen.domain.responses import GenerateContentResponse


class NodeContentRequest(SnakeModel):
    """`POST /api/graphs/{graph_id}/nodes/{node_id}/content`: the player; the node comes from the graph.

    Attributes:
        player_context: Who plays (their playthrough and player ids seed per-playthrough and per-player
            nodes; flags, choices and stats feed the node's rules).
        social_context: The player's social context, replacing the node's own when given.
        graph_version: Pin a version of the graph (default: its current version).
    """

    player_context: PlayerContext | None = None
    social_context: SocialContext | None = None
    graph_version: Annotated[int, Field(ge=1, le=2**31)] | None = None


class AdvanceRequest(SnakeModel):
    """`POST /api/graphs/{graph_id}/advance`: the scene the player leaves and where they go.

    Without `to_scene` or `choice` the player takes the scene's first exit (as `dyngen play` does);
    `choice` is an index into the scene's `exits` (as the previous step listed them), `to_scene` names one.
    """

    from_scene: Id
    to_scene: Id | None = None
    choice: Annotated[int, Field(ge=0, le=10_000)] | None = None
    player_context: PlayerContext | None = None
    social_context: SocialContext | None = None
    graph_version: Annotated[int, Field(ge=1, le=2**31)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> AdvanceRequest:
        if self.to_scene is not None and self.choice is not None:
            raise ValueError("give to_scene or choice, not both")
        return self


class AdvanceResponse(SnakeModel):
    """One step of play: what the game plays now (a node's content or fallback; None for a plain edge),
    the scene that follows (None at the end of the graph) and that scene's exits (scene ids, in order)."""

    graph_id: str
    graph_version: int
    from_scene: str
    node_id: str | None = None
    content: GenerateContentResponse | None = None
    scene: Scene | None = None
    exits: list[str] = Field(default_factory=list)
