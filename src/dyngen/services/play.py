"""Playing a scene graph as a player would: scenes in order, Generation Nodes realised between them."""

from __future__ import annotations

from dataclasses import dataclass

from dyngen.domain.contracts import GenerateContentRequest, GenerateContentResponse, PlayerContext, Simulate
from dyngen.domain.errors import ErrorCode
from dyngen.domain.graph import Edge, GenerationNode, Scene, SceneGraph
from dyngen.services.container import Services
from dyngen.services.generation import generate_content


@dataclass(frozen=True, slots=True)
class SceneStep:
    scene: Scene


@dataclass(frozen=True, slots=True)
class TransitionStep:
    node: GenerationNode
    response: GenerateContentResponse


PlayStep = SceneStep | TransitionStep


async def play(
    *,
    graph: SceneGraph,
    playthrough_id: str,
    player_id: str | None = None,
    fail_with: ErrorCode | None = None,
    services: Services,
) -> list[PlayStep]:
    """Walk the graph from its start scene, generating each Generation Node on the way.

    Args:
        graph: The scene graph.
        playthrough_id: The playthrough (seeds `per_playthrough` nodes).
        player_id: The player (seeds `per_player` nodes).
        fail_with: Force every generation to fail with this code (to watch the fallback path).
        services: The assembled ports.
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
        if isinstance(step, GenerationNode):
            request = GenerateContentRequest.for_node(
                step.config.model_copy(update={"id": step.config.id or step.id}),
                from_scene=graph.scene(step.from_scene).ref(),
                to_scene=graph.scene(step.to_scene).ref(),
                player_context=context,
                simulate=simulate,
            )
            steps.append(TransitionStep(step, await generate_content(request=request, services=services)))
            current = step.to_scene
        elif isinstance(step, Edge):
            current = step.target
        else:
            break
    return steps
