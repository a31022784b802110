"""Authoring on its ports alone: memory repositories, a registry, a FakeClock; no `build`, no `Services`."""

from __future__ import annotations

import pytest

from dyngen.adapters.memory.authoring import MemoryGraphRepository, MemoryNodeConfigRepository
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph
from dyngen.services.authoring import graphs, nodes
from dyngen.services.authoring.ports import AuthoringPorts
from dyngen.services.authoring.runtime_graphs import live_graph, referenced
from dyngen.services.machinery.graph_cache import GraphCache
from dyngen.services.machinery.providers import ProviderRegistry
from tests.fakes import FakeClock, FakeProvider
from tests.support.examples import SPEC_TEMPLATE


def ports() -> AuthoringPorts:
    database = MemoryDatabase()
    return AuthoringPorts(
        graphs=MemoryGraphRepository(database=database),
        nodes=MemoryNodeConfigRepository(database=database),
        providers=ProviderRegistry({"builtin": FakeProvider()}, default="builtin"),
        cache=GraphCache(),
        clock=FakeClock(),
        default_timeout_ms=8000,
    )


def story(mood_to: str) -> SceneGraph:
    config = {**SPEC_TEMPLATE, "id": "n_ab", "style": {**SPEC_TEMPLATE["style"], "moodTo": mood_to}}
    return SceneGraph.model_validate(
        {
            "id": "story",
            "scenes": [{"id": "a", "mood": "romantic"}, {"id": "b", "mood": mood_to}],
            "nodes": [{"id": "n_ab", "fromScene": "a", "toScene": "b", "config": config}],
            "edges": [],
        }
    )


async def test_a_saved_graph_is_what_the_runtime_reads_until_the_next_save_or_delete() -> None:
    authoring = ports()
    saved = await graphs.save_graph(graph=story("tense"), author="mara", ports=authoring)
    assert saved.version == 1
    assert (await live_graph(graph_id="story", version=None, ports=authoring)).version == 1

    await graphs.save_graph(graph=story("joyful"), author="mara", ports=authoring)
    assert (await live_graph(graph_id="story", version=None, ports=authoring)).version == 2
    by_id = GenerateContentRequest.model_validate({"type": "transition", "node_id": "n_ab"})
    assert (await referenced(request=by_id, ports=authoring)).style.mood_to == "joyful"

    await graphs.delete_graph(graph_id="story", graphs=authoring.graphs, cache=authoring.cache)
    with pytest.raises(DyngenError) as gone:
        await live_graph(graph_id="story", version=None, ports=authoring)
    assert gone.value.code is ErrorCode.NOT_FOUND


async def test_a_node_naming_an_unconfigured_provider_is_refused_and_a_rollback_is_a_new_version() -> None:
    authoring = ports()
    unknown = GenerationNodeConfig.model_validate({**SPEC_TEMPLATE, "id": "n", "provider": "nosuch"})
    with pytest.raises(DyngenError) as refused:
        await nodes.save_node(node_id="n", config=unknown, author=None, note=None, ports=authoring)
    assert refused.value.code is ErrorCode.GEN_INVALID_CONFIG
    assert await authoring.nodes.node_versions("n") == []

    first = GenerationNodeConfig.model_validate({**SPEC_TEMPLATE, "id": "n"})
    always = GenerationNodeConfig.model_validate({**SPEC_TEMPLATE, "id": "n", "strategy": "always"})
    await nodes.save_node(node_id="n", config=first, author=None, note=None, ports=authoring)
    await nodes.save_node(node_id="n", config=always, author=None, note=None, ports=authoring)
    rolled = await nodes.rollback(node_id="n", to_version=1, author="mara", ports=authoring)
    assert rolled.version == 3
    assert [c.field for c in await nodes.diff(node_id="n", before=2, after=3, nodes=authoring.nodes)] == ["strategy"]
