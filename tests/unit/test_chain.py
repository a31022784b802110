"""Fallback chains: a provider that tries its members in order, skipping those in cooldown; and the
start-up errors of a chain or a provider that cannot be used."""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from dyngen.adapters.providers import plugins
from dyngen.adapters.providers.breaker import MemoryCircuitBreaker
from dyngen.adapters.providers.chain import ChainProvider, build_chains
from dyngen.domain.contracts import GenerateContentRequest, GenerationType
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import Provider, ProviderCall
from tests.fakes import (
    FakeClock,
    FakeCutOffProvider,
    FakeMediaStream,
    FakeProvider,
    FakeStreamingVideoProvider,
    FakeVideoProvider,
)

T = ErrorCode.GEN_TIMEOUT


def request(type_: str = "dialogue") -> GenerateContentRequest:
    return GenerateContentRequest.model_validate(
        {
            "type": type_,
            "node_id": "n1",
            "from_scene": {"id": "cafe", "mood": "romantic"},
            "to_scene": {"id": "street", "mood": "tense"},
        }
    )


def call(type_: str = "dialogue") -> ProviderCall:
    return ProviderCall(request=request(type_), seed=7, attempt=1, deadline_s=5.0)


def only(provider: FakeProvider, *types: GenerationType, deterministic: bool = True) -> FakeProvider:
    provider.info = dataclasses.replace(provider.info, generation_types=frozenset(types), deterministic=deterministic)
    return provider


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def breaker(clock: FakeClock) -> MemoryCircuitBreaker:
    return MemoryCircuitBreaker(clock=clock, failures=3, window_s=60, cooldown_s=30)


# --- order -----------------------------------------------------------------------------------------


async def test_the_first_member_that_succeeds_answers_and_the_fingerprint_names_it(
    breaker: MemoryCircuitBreaker,
    clock: FakeClock,
) -> None:
    first, second = FakeProvider(name="openai"), FakeProvider(name="builtin")
    chain = ChainProvider("main", [first, second], breaker, clock=clock)

    result = await chain.generate(call())

    assert result.fingerprint == "chain:main>openai/fake/1"
    assert (len(first.calls), len(second.calls)) == (1, 0)


async def test_a_failing_member_hands_over_to_the_next(breaker: MemoryCircuitBreaker, clock: FakeClock) -> None:
    first, second = FakeProvider(name="openai", failures=[T]), FakeProvider(name="builtin")
    chain = ChainProvider("main", [first, second], breaker, clock=clock)

    result = await chain.generate(call())

    assert result.fingerprint == "chain:main>builtin/fake/1"
    assert result.payload.dialogue, "the next member's content is returned"
    assert result.answered_by == "builtin"
    assert (len(first.calls), len(second.calls)) == (1, 1)


async def test_a_crashing_member_hands_over_to_the_next(breaker: MemoryCircuitBreaker, clock: FakeClock) -> None:
    chain = ChainProvider(
        "main", [FakeProvider(name="openai", crash=True), FakeProvider(name="builtin")], breaker, clock=clock
    )

    assert (await chain.generate(call())).fingerprint.startswith("chain:main>builtin/")


async def test_a_member_that_streams_says_its_video_is_playable_under_its_own_name(
    breaker: MemoryCircuitBreaker, clock: FakeClock
) -> None:
    video = FakeStreamingVideoProvider()
    video.render.set()
    chain = ChainProvider("main", [FakeProvider(name="studio", failures=[T]), video], breaker, clock=clock)
    stream = FakeMediaStream()

    result = await chain.generate(dataclasses.replace(call("transition"), stream=stream))

    assert stream.early is not None, "a member that wrote nothing leaves the stream to the next one"
    assert stream.early.answered_by == result.answered_by == "fake_video"
    assert stream.data == video.first + video.rest


async def test_a_member_that_fails_after_its_video_was_playable_ends_the_chain(
    breaker: MemoryCircuitBreaker, clock: FakeClock
) -> None:
    video, after = FakeStreamingVideoProvider(fail=True), FakeVideoProvider(name="after")
    video.render.set()
    chain = ChainProvider("main", [video, after], breaker, clock=clock)

    with pytest.raises(DyngenError) as failed:
        await chain.generate(dataclasses.replace(call("transition"), stream=FakeMediaStream()))

    assert failed.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert after.calls == [], "a player holds the first member's video: no other member answers instead"


async def test_when_every_member_fails_the_last_error_is_raised(
    breaker: MemoryCircuitBreaker, clock: FakeClock
) -> None:
    chain = ChainProvider(
        "main",
        [FakeProvider(name="openai", failures=[T]), FakeProvider(name="video", failures=[ErrorCode.GEN_EMPTY_OUTPUT])],
        breaker,
        clock=clock,
    )

    with pytest.raises(DyngenError) as raised:
        await chain.generate(call())

    assert raised.value.code is ErrorCode.GEN_EMPTY_OUTPUT


async def test_a_last_member_that_crashes_is_reported_unavailable(
    breaker: MemoryCircuitBreaker, clock: FakeClock
) -> None:
    chain = ChainProvider(
        "main", [FakeProvider(name="openai", failures=[T]), FakeProvider(crash=True)], breaker, clock=clock
    )

    with pytest.raises(DyngenError) as raised:
        await chain.generate(call())

    assert raised.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE


async def test_a_member_that_cannot_make_the_type_is_skipped(breaker: MemoryCircuitBreaker, clock: FakeClock) -> None:
    video = only(FakeProvider(name="video"), GenerationType.TRANSITION)
    text = FakeProvider(name="builtin")
    chain = ChainProvider("main", [video, text], breaker, clock=clock)

    assert (await chain.generate(call("dialogue"))).fingerprint.startswith("chain:main>builtin/")
    assert (await chain.generate(call("transition"))).fingerprint.startswith("chain:main>video/")
    assert len(video.calls) == 1, "video was asked only for the transition"


def test_info_is_the_union_of_the_members_and_deterministic_only_if_all_are(
    breaker: MemoryCircuitBreaker, clock: FakeClock
) -> None:
    video = only(FakeProvider(name="video"), GenerationType.TRANSITION, deterministic=False)
    text = only(FakeProvider(name="builtin"), GenerationType.DIALOGUE)
    chain = ChainProvider("main", [video, text], breaker, clock=clock)

    assert chain.info.name == "main"
    assert chain.info.generation_types == {GenerationType.TRANSITION, GenerationType.DIALOGUE}
    assert chain.info.media == {"application/json"}
    assert chain.info.deterministic is False
    assert ChainProvider("text", [text], breaker, clock=clock).info.deterministic is True


# --- deadlines -------------------------------------------------------------------------------------


async def test_a_hanging_member_is_cut_off_with_time_left_for_the_next(
    breaker: MemoryCircuitBreaker, clock: FakeClock
) -> None:
    # The cut-off moves the injected clock by exactly the member's share: what is left for the next member
    # does not depend on how late a busy machine fires the timer.
    hanging, builtin = FakeCutOffProvider(name="openai", clock=clock), FakeProvider(name="builtin")
    chain = ChainProvider("main", [hanging, builtin], breaker, clock=clock, reserve=0.5)

    result = await chain.generate(dataclasses.replace(call(), deadline_s=0.2))

    assert result.fingerprint.startswith("chain:main>builtin/")
    assert hanging.calls[0].deadline_s == pytest.approx(0.1, abs=0.01), "the hanging member had half the time"
    assert 0.05 < builtin.calls[0].deadline_s <= 0.11, "the next member gets what is left"


async def test_a_member_that_keeps_hanging_cools_down(clock: FakeClock) -> None:
    breaker = MemoryCircuitBreaker(clock=clock, failures=2, window_s=60, cooldown_s=30)
    hanging, builtin = FakeProvider(name="openai", latency_s=30.0), FakeProvider(name="builtin")
    chain = ChainProvider("main", [hanging, builtin], breaker, clock=clock, reserve=0.9)
    fast = dataclasses.replace(call(), deadline_s=0.05)
    for _ in range(2):
        await chain.generate(fast)

    await chain.generate(fast)

    assert len(hanging.calls) == 2, "after two timeouts the hanging member is skipped"
    assert "openai" in await chain.cooldowns()
    assert "GEN_TIMEOUT" in (await chain.cooldowns())["openai"].reason


async def test_the_last_usable_member_gets_all_the_time_left(breaker: MemoryCircuitBreaker, clock: FakeClock) -> None:
    first, last = FakeProvider(name="openai", failures=[T]), FakeProvider(name="builtin")
    chain = ChainProvider("main", [first, last], breaker, clock=clock, reserve=0.5)

    await chain.generate(call())

    assert first.calls[0].deadline_s == pytest.approx(2.5)
    assert last.calls[0].deadline_s == pytest.approx(5.0), "the fake clock did not move, so all 5 s are left"


# --- cooldown --------------------------------------------------------------------------------------


async def test_a_member_failing_n_times_cools_down_and_comes_back_after_the_cooldown(
    breaker: MemoryCircuitBreaker, clock: FakeClock
) -> None:
    flaky = FakeProvider(name="openai", failures=[T, T, T])
    builtin = FakeProvider(name="builtin")
    chain = ChainProvider("main", [flaky, builtin], breaker, clock=clock)
    for _ in range(3):
        assert (await chain.generate(call())).fingerprint.startswith("chain:main>builtin/")

    clock.advance(29)
    assert (await chain.generate(call())).fingerprint.startswith("chain:main>builtin/")
    assert len(flaky.calls) == 3, "a member in cooldown is not called"

    clock.advance(1)
    assert (await chain.generate(call())).fingerprint.startswith("chain:main>openai/")
    assert len(flaky.calls) == 4


async def test_failures_spread_wider_than_the_window_do_not_trip_it(
    breaker: MemoryCircuitBreaker, clock: FakeClock
) -> None:
    flaky = FakeProvider(name="openai", failures=[T, T, T])
    chain = ChainProvider("main", [flaky, FakeProvider(name="builtin")], breaker, clock=clock)
    await chain.generate(call())
    await chain.generate(call())
    clock.advance(61)
    await chain.generate(call())

    assert await chain.cooldowns() == {}
    assert (await chain.generate(call())).fingerprint.startswith("chain:main>openai/")


async def test_every_member_cooling_down_is_unavailable_with_the_reasons(clock: FakeClock) -> None:
    breaker = MemoryCircuitBreaker(clock=clock, failures=1, window_s=60, cooldown_s=30)
    chain = ChainProvider("main", [FakeProvider(name="openai", failures=[T])], breaker, clock=clock)
    with pytest.raises(DyngenError):
        await chain.generate(call())

    with pytest.raises(DyngenError) as raised:
        await chain.generate(call())

    assert raised.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
    assert "openai cooling down until 2026-03-01T12:00:30" in raised.value.message


async def test_estimate_cost_is_the_highest_among_the_available_members(
    breaker: MemoryCircuitBreaker, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cheap, pricey = FakeProvider(name="openai", failures=[T, T, T]), FakeProvider(name="video_api")
    builtin = FakeProvider(name="builtin")
    monkeypatch.setattr(cheap, "estimate_cost", lambda request: 0.1)
    monkeypatch.setattr(pricey, "estimate_cost", lambda request: 0.5)
    monkeypatch.setattr(builtin, "estimate_cost", lambda request: 0.0)
    chain = ChainProvider("main", [cheap, builtin], breaker, clock=clock)
    assert chain.estimate_cost(request()) == 0.1
    assert ChainProvider("m2", [cheap, pricey], breaker, clock=clock).estimate_cost(request()) == 0.5, (
        "a budget holds enough when the first member fails over to a pricier one"
    )

    for _ in range(3):
        await chain.generate(call())

    assert chain.estimate_cost(request()) == 0.0, "a member in cooldown will not answer"


# --- health ----------------------------------------------------------------------------------------


async def test_health_lists_the_members_in_cooldown_with_reason_and_expiry(
    breaker: MemoryCircuitBreaker, clock: FakeClock
) -> None:
    chain = ChainProvider(
        "main", [FakeProvider(name="openai", failures=[T, T, T]), FakeProvider()], breaker, clock=clock
    )
    assert await chain.health() is None
    for _ in range(3):
        await chain.generate(call())

    detail = await chain.health()

    assert detail == "openai cooling down until 2026-03-01T12:00:30+00:00: 3 failures in 60 s (GEN_TIMEOUT)"
    cooldowns = await chain.cooldowns()
    assert list(cooldowns) == ["openai"]
    assert cooldowns["openai"].until == datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


async def test_health_fails_when_no_member_is_usable(clock: FakeClock) -> None:
    breaker = MemoryCircuitBreaker(clock=clock, failures=1, window_s=60, cooldown_s=30)
    chain = ChainProvider("main", [FakeProvider(name="openai", failures=[T])], breaker, clock=clock)
    with pytest.raises(DyngenError):
        await chain.generate(call())

    with pytest.raises(RuntimeError, match="openai cooling down"):
        await chain.health()


# --- building chains -------------------------------------------------------------------------------


def test_a_chain_naming_an_unknown_member_fails_naming_it(breaker: MemoryCircuitBreaker, clock: FakeClock) -> None:
    providers: dict[str, Provider] = {"builtin": FakeProvider(name="builtin")}

    with pytest.raises(ValueError, match="'openai'"):
        build_chains(providers, {"main": ["openai", "builtin"]}, breaker, clock=clock)


def test_chains_are_added_beside_the_providers(breaker: MemoryCircuitBreaker, clock: FakeClock) -> None:
    providers: dict[str, Provider] = {"builtin": FakeProvider(name="builtin")}

    built = build_chains(providers, {"main": ["builtin"]}, breaker, clock=clock)

    assert set(built) == {"builtin", "main"}
    assert isinstance(built["main"], ChainProvider)


# --- a missing optional dependency -----------------------------------------------------------------


def _with_entry_points(monkeypatch: pytest.MonkeyPatch, *eps: EntryPoint) -> None:
    builtin = EntryPoint(name="builtin", value="dyngen.adapters.providers.builtin:BuiltinProvider", group=plugins.GROUP)
    monkeypatch.setattr(plugins, "entry_points", lambda group: [builtin, *eps])


def test_a_provider_whose_extra_is_missing_is_skipped_until_settings_name_it(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = EntryPoint(name="video", value="dyngen_missing_vendor_sdk:Provider [video]", group=plugins.GROUP)
    _with_entry_points(monkeypatch, ep)

    assert set(plugins.load_providers()) == {"builtin"}
    with pytest.raises(ValueError, match=r"provider 'video' needs the extra: pip install 'dyngen\[video\]'"):
        plugins.load_providers(required=["builtin", "video"])


def test_the_extra_comes_from_the_modules_extra_constant(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "dyngen_plugin_needing_sdk.py").write_text(
        'EXTRA = "openai"\nimport dyngen_missing_vendor_sdk  # noqa\n\nclass Provider: ...\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "dyngen_plugin_needing_sdk", raising=False)
    _with_entry_points(
        monkeypatch, EntryPoint(name="llm", value="dyngen_plugin_needing_sdk:Provider", group=plugins.GROUP)
    )

    with pytest.raises(ValueError, match=r"provider 'llm' needs the extra: pip install 'dyngen\[openai\]'"):
        plugins.load_providers(required=["llm"])


def test_without_an_extra_the_missing_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_entry_points(monkeypatch, EntryPoint(name="odd", value="dyngen_missing_vendor_sdk:P", group=plugins.GROUP))

    with pytest.raises(ValueError, match="missing module 'dyngen_missing_vendor_sdk'"):
        plugins.load_providers(required=["odd"])
