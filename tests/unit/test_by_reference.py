"""The game runtime's resolution (issue 14): a stored node's request by reference, a flat request resolved
by its `node_id`, the per-version graph cache, and a node whose rules make its config invalid at play time.
Real services on the memory database with a FakeProvider."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import authoring_ports, generation_ports, play_ports
from dyngen.config import MEMORY_URL, Settings
from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig, GenerationStatus, PlayerContext
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph, node_request
from dyngen.domain.runtime import AdvanceRequest
from dyngen.ports import GenerationFilter
from dyngen.services.authoring import graphs, nodes
from dyngen.services.authoring.runtime_graphs import CURRENT_TTL_S, live_graph, referenced
from dyngen.services.generation.front_door import Answered, GenerateCall, answer_known, generate, generate_content
from dyngen.services.machinery import revalidating
from dyngen.services.machinery.container import Services
from dyngen.services.machinery.memo import body_key
from dyngen.services.machinery.revalidating import RevalidatingMemo
from dyngen.services.play import by_reference
from tests.fakes import FakeClock, FakeHangingCall, FakeProvider, FakeRefusedCall
from tests.support.examples import SPEC_TEMPLATE

PLAYER = PlayerContext(playthrough_id="pt-1", player_id="pl-1")
# A guard, not a measurement: a call held by a hung store never answers and fails the test.
GUARD_S = 10.0


def story(mood_to: str = "tense", **config: Any) -> SceneGraph:
    return SceneGraph.model_validate(
        {
            "id": "story",
            "scenes": [
                {"id": "a", "mood": "calm", "summary": "the cafe"},
                {"id": "b", "mood": "tense", "summary": "the roof"},
                {"id": "c", "mood": "calm"},
            ],
            "nodes": [
                {
                    "id": "n_ab",
                    "fromScene": "a",
                    "toScene": "b",
                    "config": {
                        "id": "n_ab",
                        "generationType": "transition",
                        "strategy": "per_playthrough",
                        "style": {"moodFrom": "calm", "moodTo": mood_to},
                        "fallback": {"mode": "placeholder"},
                        **config,
                    },
                }
            ],
            "edges": [{"source": "b", "target": "c", "meta": {"generate": True}}],
        }
    )


class CountingGraphs:
    """The graph repository, counting reads (the runtime must not read the store per call)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads = 0

    async def get_graph(self, graph_id: str, version: int | None = None) -> Any:
        self.reads += 1
        return await self.inner.get_graph(graph_id, version)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    built = await build(
        Settings(database_url=MEMORY_URL, retry_backoff_ms=1, providers_by_type={}),
        providers={"builtin": FakeProvider(name="builtin")},
        clock=FakeClock(),
    )
    yield built
    await built.aclose()


async def by_ref(services: Services, node_id: str = "n_ab", **body: Any) -> dict[str, Any]:
    payload = {"player_context": {"playthroughId": "pt-1", "playerId": "pl-1"}, **body}
    call = await by_reference.node_call(
        graph_id="story", node_id=node_id, body=json.dumps(payload).encode(), ports=play_ports(services)
    )
    if call.body is None:
        assert call.answer is not None
        return call.answer.model_dump(mode="json")
    answered = await generate(GenerateCall(body=call.body), ports=generation_ports(services))
    assert isinstance(answered, Answered)
    result: dict[str, Any] = json.loads(answered.data)
    return result


async def test_a_by_reference_call_is_the_warm_up_and_editor_request_for_that_player(services: Services) -> None:
    await graphs.save_graph(graph=story(), author=None, ports=authoring_ports(services))
    graph = story()
    warmed = await generate_content(
        request=node_request(graph, graph.nodes[0], player_context=PLAYER), ports=generation_ports(services)
    )

    first, second = await by_ref(services), await by_ref(services)

    assert first["cache_key"] == second["cache_key"] == warmed.cache_key
    assert (first["cache"]["hit"], second["cache"]["hit"]) == (True, True)
    assert first["generation_id"] == second["generation_id"] == warmed.generation_id
    edge = await by_ref(services, node_id="edge:b->c")
    assert edge["status"] == "complete"
    assert edge["cache_key"].startswith("transition|gap_fill|b|c|once||1;")


async def test_a_by_reference_hit_is_answered_from_the_prepared_request_as_a_flat_hit_is(services: Services) -> None:
    """The node's flat request, made by `node_call`, is remembered prepared by the front door under its body,
    so a by-reference hit costs what the flat request's hit costs plus the call's lookups; before, every
    by-reference hit read its flat body's shape and player context again (bench/by_reference.py: +27 us of
    server CPU per hit, 0.71x the flat hit's capacity)."""
    await graphs.save_graph(graph=story(), author=None, ports=authoring_ports(services))
    graph = story()
    warmed = await generate_content(
        request=node_request(graph, graph.nodes[0], player_context=PLAYER), ports=generation_ports(services)
    )
    payload = json.dumps({"player_context": {"playthroughId": "pt-1", "playerId": "pl-1"}}).encode()

    call = await by_reference.node_call(graph_id="story", node_id="n_ab", body=payload, ports=play_ports(services))
    assert call.body is not None
    remembered = services.memo.envelopes.get(body_key(call.body))
    hits = [await answer_known(GenerateCall(body=call.body), ports=generation_ports(services)) for _ in range(3)]

    assert remembered is not None
    assert remembered.prepared is not None
    assert all(hit is not None for hit in hits)
    assert len(services.memo.shapes) == 0, "no body read again for its shape"
    answers = [json.loads(hit.data) for hit in hits if hit is not None]
    assert [(a["cache_key"], a["cache"]["hit"]) for a in answers] == [(warmed.cache_key, True)] * 3


async def test_a_call_is_known_without_a_turn_of_the_loop_once_resolved_and_while_its_graph_is_fresh(
    services: Services,
) -> None:
    """`known_call` (the fast path's first look) answers from what `node_call` remembered, and nothing
    else: not before the call was resolved, not once what is current is to be asked again."""
    await graphs.save_graph(graph=story(), author=None, ports=authoring_ports(services))
    ports = play_ports(services)
    body = json.dumps({"player_context": {"playthroughId": "pt-1", "playerId": "pl-1"}}).encode()

    before = by_reference.known_call(graph_id="story", node_id="n_ab", body=body, ports=ports)
    resolved = await by_reference.node_call(graph_id="story", node_id="n_ab", body=body, ports=ports)
    known = by_reference.known_call(graph_id="story", node_id="n_ab", body=bytes(bytearray(body)), ports=ports)
    unknown_node = by_reference.known_call(graph_id="story", node_id="n_zz", body=body, ports=ports)
    assert isinstance(services.clock, FakeClock)
    services.clock.advance(CURRENT_TTL_S)
    stale = by_reference.known_call(graph_id="story", node_id="n_ab", body=body, ports=ports)

    assert before is None
    assert known is resolved
    assert unknown_node is None
    assert stale is None
    again = await by_reference.node_call(graph_id="story", node_id="n_ab", body=body, ports=ports)
    assert again is resolved, "the same version: the call remembered"


async def test_the_graph_is_read_once_per_version_and_again_after_a_save(services: Services) -> None:
    counting = CountingGraphs(services.graphs)
    services.graphs = counting
    await graphs.save_graph(graph=story(), author=None, ports=authoring_ports(services))

    for _ in range(5):
        await by_ref(services)
    assert counting.reads == 1

    await graphs.save_graph(graph=story(mood_to="joyful"), author=None, ports=authoring_ports(services))
    after = await by_ref(services)
    assert counting.reads == 2
    assert after["cache"]["hit"] is False, "the new version's node has its own key"
    pinned = await by_ref(services, graph_version=1)
    assert pinned["cache"]["hit"] is True
    assert counting.reads == 2, "version 1 is still parsed in memory"

    assert isinstance(services.clock, FakeClock)
    services.clock.advance(CURRENT_TTL_S + 0.1)  # another process may have saved: ask the store again
    await by_ref(services)
    assert counting.reads == 3


async def test_unknown_graph_version_and_node_are_404_naming_the_closest_id(services: Services) -> None:
    await graphs.save_graph(graph=story(), author=None, ports=authoring_ports(services))
    with pytest.raises(DyngenError) as graph_error:
        await live_graph(graph_id="stroy", version=None, ports=authoring_ports(services))
    with pytest.raises(DyngenError) as version_error:
        await live_graph(graph_id="story", version=7, ports=authoring_ports(services))
    with pytest.raises(DyngenError) as node_error:
        await by_ref(services, node_id="n_abb")

    assert [e.value.code for e in (graph_error, version_error, node_error)] == [ErrorCode.NOT_FOUND] * 3
    assert "did you mean 'story'?" in graph_error.value.message
    assert "versions are 1 to 1" in version_error.value.message
    assert node_error.value.details is not None
    assert node_error.value.details[0]["suggestion"] == "n_ab"


async def test_a_disabled_node_answers_its_fallback_with_the_reason(services: Services) -> None:
    await graphs.save_graph(graph=story(enabled=False), author=None, ports=authoring_ports(services))

    answer = await by_ref(services)

    assert answer["status"] == "failed"
    assert answer["fallback"]["mode"] == "placeholder"
    assert "disabled" in answer["fallback"]["reason"]
    assert answer["content"]["placeholder"] is True
    assert await services.repository.find(GenerationFilter()) == [], "nothing generated or recorded"


async def test_a_flat_request_naming_a_saved_node_without_config_is_that_node(services: Services) -> None:
    await graphs.save_graph(graph=story(), author=None, ports=authoring_ports(services))
    only_id = GenerateContentRequest.model_validate(
        {"type": "transition", "node_id": "n_ab", "player_context": {"playthroughId": "pt-1"}}
    )
    graph = story()
    expected = node_request(graph, graph.nodes[0], player_context=PlayerContext(playthrough_id="pt-1"))

    assert await referenced(request=only_id, ports=authoring_ports(services)) == expected


async def test_a_flat_request_naming_nothing_known_without_config_is_refused_not_defaulted(
    services: Services,
) -> None:
    await graphs.save_graph(graph=story(), author=None, ports=authoring_ports(services))
    unknown = GenerateContentRequest.model_validate({"type": "transition", "node_id": "n_ac"})
    wrong_type = GenerateContentRequest.model_validate({"type": "dialogue", "node_id": "n_ab"})

    with pytest.raises(DyngenError) as unknown_error:
        await referenced(request=unknown, ports=authoring_ports(services))
    with pytest.raises(DyngenError) as type_error:
        await referenced(request=wrong_type, ports=authoring_ports(services))

    assert unknown_error.value.code is ErrorCode.GEN_INVALID_CONFIG
    assert "did you mean 'n_ab'?" in unknown_error.value.message
    assert type_error.value.code is ErrorCode.GEN_INVALID_CONFIG
    assert "is a transition node" in type_error.value.message


async def test_a_body_that_brings_config_wins_over_the_saved_node_it_names(services: Services) -> None:
    await graphs.save_graph(graph=story(), author=None, ports=authoring_ports(services))
    draft = GenerateContentRequest.model_validate(
        {"type": "transition", "node_id": "n_ab", "style": {"moodTo": "joyful"}, "player_context": {}}
    )

    assert await referenced(request=draft, ports=authoring_ports(services)) is draft


async def test_rules_that_make_the_config_invalid_at_play_time_answer_the_fallback_with_the_finding(
    services: Services,
) -> None:
    # The rule's range leaves the node's target of 10 s outside it: no contradiction in the rules alone.
    request = GenerateContentRequest.model_validate(
        {
            "type": "transition",
            "node_id": "n-rules",
            "duration": {"min": 5, "max": 20, "target": 10},
            "fallback": {"mode": "placeholder"},
            "rules": "IF flags.rushed THEN { DURATION 1-3s }",
            "player_context": {"flags": {"rushed": True}},
        }
    )

    answer = await generate_content(request=request, ports=generation_ports(services))

    assert answer.status is GenerationStatus.FAILED
    assert answer.error is not None
    assert answer.error.code is ErrorCode.GEN_INVALID_CONFIG
    assert answer.fallback is not None
    assert answer.fallback.mode.value == "placeholder"
    [record] = await services.repository.find(GenerationFilter(node_id="n-rules"))
    assert record.error_code == "GEN_INVALID_CONFIG"
    assert record.error_message is not None
    assert "duration" in record.error_message.lower()
    calm = request.model_copy(update={"player_context": PlayerContext(flags={"rushed": False})})
    assert (await generate_content(request=calm, ports=generation_ports(services))).status is GenerationStatus.COMPLETE


async def test_advance_takes_one_step_of_play(services: Services) -> None:
    await graphs.save_graph(graph=story(), author=None, ports=authoring_ports(services))

    first = await by_reference.advance(
        graph_id="story", body=AdvanceRequest(from_scene="a", player_context=PLAYER), ports=play_ports(services)
    )
    second = await by_reference.advance(
        graph_id="story",
        body=AdvanceRequest(from_scene="b", choice=0, player_context=PLAYER),
        ports=play_ports(services),
    )
    last = await by_reference.advance(
        graph_id="story", body=AdvanceRequest(from_scene="c", player_context=PLAYER), ports=play_ports(services)
    )

    assert (first.node_id, first.scene.id if first.scene else None, first.exits) == ("n_ab", "b", ["c"])
    assert first.content is not None
    assert first.content.status is GenerationStatus.COMPLETE
    assert (second.node_id, second.scene.id if second.scene else None, second.exits) == ("edge:b->c", "c", [])
    assert (last.node_id, last.content, last.scene, last.exits) == (None, None, None, [])
    with pytest.raises(DyngenError) as bad:
        await by_reference.advance(
            graph_id="story", body=AdvanceRequest(from_scene="a", to_scene="c"), ports=play_ports(services)
        )
    assert bad.value.code is ErrorCode.GEN_INVALID_CONFIG
    assert "its exits: b" in bad.value.message


@pytest.mark.parametrize("shape", ["refused", "hung"])
async def test_a_database_down_fails_or_holds_no_call_for_the_nodes_a_process_knows(
    services: Services, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """Issue 12: while the database refuses or never answers, a by-reference call and a flat call naming a
    stored node or a saved node config are served the graph and config this process read last (for up to
    `stale_s` past their lifetime), so the player gets the content it was getting; before, every such
    call past `CURRENT_TTL_S` failed with the database (503) or waited for it."""
    await graphs.save_graph(graph=story(), author=None, ports=authoring_ports(services))
    saved = GenerationNodeConfig.model_validate({**SPEC_TEMPLATE, "id": "saved"})
    await nodes.save_node(node_id="saved", config=saved, author=None, note=None, ports=authoring_ports(services))
    by_id = GenerateContentRequest.model_validate(
        {"type": "transition", "node_id": "n_ab", "player_context": {"playthroughId": "pt-1", "playerId": "pl-1"}}
    )
    by_saved_id = GenerateContentRequest.model_validate(
        {"type": "transition", "node_id": "saved", "player_context": {"playthroughId": "pt-1"}}
    )
    warmed = [await by_ref(services), await generate_content(request=by_saved_id, ports=generation_ports(services))]
    assert isinstance(services.clock, FakeClock)
    services.clock.advance(CURRENT_TTL_S + 0.1)

    down = FakeRefusedCall() if shape == "refused" else FakeHangingCall()
    for store, method in (
        (services.graphs, "get_graph"),
        (services.graphs, "list_graphs"),
        (services.nodes, "node_version"),
    ):
        monkeypatch.setattr(store, method, down)
    async with asyncio.timeout(GUARD_S):  # a call held by the store fails the test
        again = await by_ref(services)
        flat = await generate_content(request=by_id, ports=generation_ports(services))
        flat_saved = await generate_content(request=by_saved_id, ports=generation_ports(services))
    assert down.calls, "the store was asked again"
    assert (again["cache"]["hit"], again["generation_id"]) == (True, warmed[0]["generation_id"])
    assert (flat.cache.hit, flat.generation_id) == (True, warmed[0]["generation_id"])
    assert (flat_saved.cache.hit, flat_saved.generation_id) == (True, warmed[1].generation_id)

    # Older than `stale_s` past its lifetime, what was read is no longer vouched for: the store answers.
    services.clock.advance(services.runtime_graphs.stale_s + CURRENT_TTL_S)
    if isinstance(down, FakeRefusedCall):
        with pytest.raises(DyngenError) as refused:
            await by_ref(services)
        assert refused.value.code is ErrorCode.DEPENDENCY_UNAVAILABLE
    else:
        waiting = asyncio.create_task(by_ref(services))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()
        waiting.cancel()
        down.release()


async def test_a_save_in_this_process_is_read_at_once_and_a_read_under_way_does_not_undo_it(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A saved node config is kept like a graph; a save in this process is seen by the next call, even
    when a stuck read of the config from before the save answers after it."""
    config = {**SPEC_TEMPLATE, "id": "saved"}
    await nodes.save_node(
        node_id="saved",
        config=GenerationNodeConfig.model_validate(config),
        author=None,
        note=None,
        ports=authoring_ports(services),
    )
    by_saved_id = GenerateContentRequest.model_validate({"type": "transition", "node_id": "saved"})
    assert (await referenced(request=by_saved_id, ports=authoring_ports(services))).strategy.value == "per_playthrough"
    always = GenerationNodeConfig.model_validate({**config, "strategy": "always"})
    await nodes.save_node(node_id="saved", config=always, author=None, note=None, ports=authoring_ports(services))
    assert (await referenced(request=by_saved_id, ports=authoring_ports(services))).strategy.value == "always"

    assert isinstance(services.clock, FakeClock)
    services.clock.advance(CURRENT_TTL_S + 0.1)
    stuck = FakeHangingCall()  # answers None (no such node) once released: a read from before the save
    with monkeypatch.context() as patched:
        patched.setattr(services.nodes, "node_version", stuck)
        assert (await referenced(request=by_saved_id, ports=authoring_ports(services))).strategy.value == "always"
    once = GenerationNodeConfig.model_validate({**config, "strategy": "once"})
    await nodes.save_node(node_id="saved", config=once, author=None, note=None, ports=authoring_ports(services))
    stuck.release()
    for _ in range(20):
        await asyncio.sleep(0)
    assert (await referenced(request=by_saved_id, ports=authoring_ports(services))).strategy.value == "once"


async def test_a_value_known_and_fresh_is_given_in_place_and_nothing_else_is() -> None:
    """`RevalidatingMemo.fresh`: the by-reference call takes the graph's current version in place while it is
    fresh; unknown or past its TTL, it is None and the caller asks `get` (which reads it again)."""
    memo: RevalidatingMemo[str, str] = RevalidatingMemo(ttl_s=5, stale_s=60)
    reads: list[str] = []

    async def read() -> str:
        reads.append("story")
        return "v1"

    assert memo.fresh("story", now=0.0) is None
    assert await memo.get("story", read, now=0.0) == "v1"
    assert (memo.fresh("story", now=4.9), memo.fresh("story", now=5.0)) == ("v1", None)
    assert reads == ["story"]


async def test_requests_during_a_re_read_are_served_what_is_known_and_only_a_stuck_one_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Past its TTL, the request that starts the re-read waits for it (`REFRESH_WAIT_S`); the requests that
    come while it runs get the known value at once. A re-read under way is not stuck: nothing is logged
    for them (before, a warning each: every 2 s under a by-reference load, one per request in flight)."""
    monkeypatch.setattr(revalidating, "REFRESH_WAIT_S", 3600.0)  # the starter waits for the release below
    memo: RevalidatingMemo[str, str] = RevalidatingMemo(ttl_s=5, stale_s=60)
    released = asyncio.Event()

    async def first() -> str:
        return "v1"

    async def slow() -> str:
        await released.wait()
        return "v2"

    assert await memo.get("story", first, now=0.0) == "v1"
    starter = asyncio.create_task(memo.get("story", slow, now=6.0))
    await asyncio.sleep(0)  # its re-read is under way
    caplog.set_level(logging.WARNING, logger="dyngen.revalidating")
    assert [await memo.get("story", slow, now=6.1) for _ in range(3)] == ["v1", "v1", "v1"]
    assert caplog.records == []
    released.set()
    assert await starter == "v2"
    assert await memo.get("story", slow, now=6.2) == "v2"
    assert caplog.records == []
