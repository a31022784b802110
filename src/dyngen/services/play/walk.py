"""Playing a scene graph as a player would: scenes in order, Generation Nodes realised between them.

`take` is one step (what the game plays on the way out of a scene); `play` walks a whole graph with it
(`dyngen play`) and `POST /api/graphs/{id}/advance` takes one step per call (`services/play/by_reference.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dyngen.domain.contracts import GenerateContentRequest, PlayerContext, Simulate, SocialContext
from dyngen.domain.errors import ErrorCode
from dyngen.domain.graph import Edge, GenerationNode, Scene, SceneGraph, node_request, target_of
from dyngen.domain.responses import GenerateContentResponse
from dyngen.services.generation.front_door import generate_content
from dyngen.services.generation.ports import GenerationPorts


@dataclass(frozen=True, slots=True)
class SceneStep:
    scene: Scene


@dataclass(frozen=True, slots=True)
class TransitionStep:
    node: GenerationNode
    response: GenerateContentResponse


PlayStep = SceneStep | TransitionStep


async def take(
    *,
    graph: SceneGraph,
    step: GenerationNode | Edge,
    player_context: PlayerContext | None,
    social_context: SocialContext | None = None,
    simulate: Simulate | None = None,
    ports: GenerationPorts,
) -> TransitionStep | None:
    """Go along one exit of a scene: a Generation Node's content (or its fallback), nothing for a plain edge."""
    if not isinstance(step, GenerationNode):
        return None
    request: GenerateContentRequest = node_request(
        graph, step, player_context=player_context, social_context=social_context, simulate=simulate
    )
    return TransitionStep(step, await generate_content(request=request, ports=ports))


async def play(
    *,
    graph: SceneGraph,
    playthrough_id: str,
    player_id: str | None = None,
    fail_with: ErrorCode | None = None,
    ports: GenerationPorts,
) -> list[PlayStep]:
    """Walk the graph from its start scene, generating each Generation Node on the way.

    Args:
        graph: The scene graph.
        playthrough_id: The playthrough (seeds `per_playthrough` nodes).
        player_id: The player (seeds `per_player` nodes).
        fail_with: Force every generation to fail with this code (to watch the fallback path).
        ports: Generation's front door.
    """
    steps: list[PlayStep] = []
    current = graph.start or graph.scenes[0].id
    seen: set[str] = set()
    context = PlayerContext(playthrough_id=playthrough_id, player_id=player_id)
    simulate = Simulate.model_validate({"fail_with": fail_with.value}) if fail_with else None
    while current not in seen:
        seen.add(current)
        steps.append(SceneStep(graph.scene(current)))
        step = graph.next_step(current)
        if step is None:
            break
        taken = await take(graph=graph, step=step, player_context=context, simulate=simulate, ports=ports)
        if taken is not None:
            steps.append(taken)
        current = target_of(step)
    return steps
