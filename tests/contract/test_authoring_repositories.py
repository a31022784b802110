"""The GraphRepository and NodeConfigRepository contracts (versions, history, delete), run on every database
in `BACKENDS` and on the memory repositories."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import schema
from dyngen.adapters.db.graphs import SqlAlchemyGraphRepository
from dyngen.adapters.db.nodes import SqlAlchemyNodeConfigRepository
from dyngen.adapters.memory.authoring import MemoryGraphRepository, MemoryNodeConfigRepository
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.ports import GraphRepository, NodeConfigRepository

T0 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def body(title: str, *, scenes: int = 1) -> dict[str, object]:
    return {"title": title, "scenes": [{"id": f"s{n}", "label": "caf\u00e9 \u2014 roof"} for n in range(scenes)]}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class GraphRepositoryContract:
    """Behaviour every `GraphRepository` adapter must have."""

    @pytest.fixture
    async def graphs(self) -> GraphRepository:
        raise NotImplementedError("a Test<Repository> subclass provides the repository under test")

    async def save(self, graphs: GraphRepository, graph_id: str, n: int, *, seconds: float = 0) -> int:
        return await graphs.save_graph(
            graph_id, title=f"{graph_id} v{n}", body=body(graph_id, scenes=n), author="mara", at=at(seconds)
        )

    async def test_each_save_is_the_next_version_and_the_newest_is_current(self, graphs: GraphRepository) -> None:
        assert [await self.save(graphs, "g", n, seconds=n) for n in (1, 2, 3)] == [1, 2, 3]
        assert await self.save(graphs, "other", 1) == 1, "versions are numbered per graph"

        current = await graphs.get_graph("g")

        assert current is not None
        assert (current.id, current.version, current.title, current.author) == ("g", 3, "g v3", "mara")
        assert current.body == body("g", scenes=3)
        assert current.created_at == at(3)
        assert current.created_at.utcoffset() == timedelta(0)
        first = await graphs.get_graph("g", 1)
        assert first is not None
        assert (first.version, first.body) == (1, body("g", scenes=1))
        assert await graphs.get_graph("g", 9) is None
        assert await graphs.get_graph("nosuch") is None

    async def test_a_time_with_another_offset_is_the_same_instant(self, graphs: GraphRepository) -> None:
        paris = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
        await graphs.save_graph("g", title="t", body={}, author=None, at=paris)
        stored = await graphs.get_graph("g")
        assert stored is not None
        assert stored.created_at == paris

    async def test_the_listing_is_the_current_version_of_each_graph_by_id(self, graphs: GraphRepository) -> None:
        for graph_id, versions in (("b", 2), ("a", 1), ("c", 3)):
            for n in range(1, versions + 1):
                await self.save(graphs, graph_id, n)

        listed = await graphs.list_graphs()

        assert [(g.id, g.version) for g in listed] == [("a", 1), ("b", 2), ("c", 3)]

    async def test_delete_hides_every_version_and_a_save_brings_the_graph_back(self, graphs: GraphRepository) -> None:
        await self.save(graphs, "g", 1)
        await self.save(graphs, "g", 2)
        await self.save(graphs, "kept", 1)

        assert await graphs.delete_graph("g") is True

        assert await graphs.get_graph("g") is None
        assert await graphs.get_graph("g", 1) is None
        assert [g.id for g in await graphs.list_graphs()] == ["kept"]
        assert await graphs.delete_graph("g") is False, "already deleted"
        assert await graphs.delete_graph("nosuch") is False
        # Saving the id again starts it afresh after its history: earlier versions are history again.
        assert await self.save(graphs, "g", 3) == 3
        assert [(g.id, g.version) for g in await graphs.list_graphs()] == [("g", 3), ("kept", 1)]
        assert (await graphs.get_graph("g", 1)) is not None

    async def test_concurrent_saves_of_one_graph_get_distinct_versions(self, graphs: GraphRepository) -> None:
        versions = await asyncio.gather(*(self.save(graphs, "g", n) for n in range(1, 4)))
        assert sorted(versions) == [1, 2, 3]

    async def test_a_stored_body_does_not_change_with_the_callers_copy(self, graphs: GraphRepository) -> None:
        mine = body("g")
        await graphs.save_graph("g", title="t", body=mine, author=None, at=T0)
        mine["title"] = "changed after saving"
        loaded = await graphs.get_graph("g")
        assert loaded is not None
        loaded.body["title"] = "changed after loading"
        assert (await graphs.get_graph("g")).body == body("g")  # type: ignore[union-attr]


class NodeConfigRepositoryContract:
    """Behaviour every `NodeConfigRepository` adapter must have."""

    @pytest.fixture
    async def nodes(self) -> NodeConfigRepository:
        raise NotImplementedError("a Test<Repository> subclass provides the repository under test")

    async def test_each_save_is_the_next_version_with_its_id_and_number_in_the_config(
        self, nodes: NodeConfigRepository
    ) -> None:
        config = {"type": "dialogue", "timeoutMs": 4000, "style": {"moodTo": "calm"}}
        assert await nodes.save_node("n1", config=config, author="mara", note="first", at=at(1)) == 1
        assert await nodes.save_node("n1", config={**config, "timeoutMs": 5000}, author=None, note=None, at=at(2)) == 2
        assert await nodes.save_node("n2", config=config, author=None, note=None, at=at(3)) == 1

        current = await nodes.node_version("n1")

        assert current is not None
        assert (current.node_id, current.version, current.author, current.note) == ("n1", 2, None, None)
        assert current.config == {**config, "timeoutMs": 5000, "id": "n1", "version": 2}
        assert current.created_at == at(2)
        first = await nodes.node_version("n1", 1)
        assert first is not None
        assert (first.config, first.author, first.note) == ({**config, "id": "n1", "version": 1}, "mara", "first")
        assert await nodes.node_version("n1", 7) is None
        assert await nodes.node_version("nosuch") is None

    async def test_the_history_is_newest_first(self, nodes: NodeConfigRepository) -> None:
        for n in range(3):
            await nodes.save_node("n1", config={"n": n}, author=None, note=f"v{n + 1}", at=at(n))

        history = await nodes.node_versions("n1")

        assert [(v.version, v.note) for v in history] == [(3, "v3"), (2, "v2"), (1, "v1")]
        assert await nodes.node_versions("nosuch") == []

    async def test_concurrent_saves_of_one_node_get_distinct_versions(self, nodes: NodeConfigRepository) -> None:
        versions = await asyncio.gather(
            *(nodes.save_node("n1", config={"n": n}, author=None, note=None, at=T0) for n in range(3))
        )
        assert sorted(versions) == [1, 2, 3]


class TestSqlAlchemyGraphRepository(GraphRepositoryContract):
    @pytest.fixture
    async def graphs(self, engine: AsyncEngine) -> GraphRepository:
        await schema.upgrade(engine)
        return SqlAlchemyGraphRepository(engine=engine)


class TestMemoryGraphRepository(GraphRepositoryContract):
    @pytest.fixture
    def graphs(self) -> GraphRepository:
        return MemoryGraphRepository(database=MemoryDatabase())


class TestSqlAlchemyNodeConfigRepository(NodeConfigRepositoryContract):
    @pytest.fixture
    async def nodes(self, engine: AsyncEngine) -> NodeConfigRepository:
        await schema.upgrade(engine)
        return SqlAlchemyNodeConfigRepository(engine=engine)


class TestMemoryNodeConfigRepository(NodeConfigRepositoryContract):
    @pytest.fixture
    def nodes(self) -> NodeConfigRepository:
        return MemoryNodeConfigRepository(database=MemoryDatabase())
