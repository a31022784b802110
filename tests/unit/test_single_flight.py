"""`MemorySingleFlight`: concurrent callers of one key share one producer; keys never wait on each other.
And how a generation's flight result crosses processes (`FLIGHT_CODEC`)."""

from __future__ import annotations

import asyncio

import pytest

from dyngen.adapters.locks.memory import MemorySingleFlight
from dyngen.domain.contracts import GenerationStatus, GenerationType
from dyngen.domain.responses import GeneratedContentPayload
from dyngen.services.generation.outcomes import FLIGHT_CODEC, FlightResult, Hit, Outcome
from tests.fakes import FakeProducer
from tests.support.waiting import hang_guard


async def test_concurrent_callers_of_one_key_share_one_producer_run() -> None:
    flights = MemorySingleFlight()
    produce = FakeProducer(result={"generation_id": "g1"})

    async with hang_guard("the flight's callers to be served"):
        callers = [asyncio.create_task(flights.run("k", produce)) for _ in range(20)]
        await produce.started.wait()
        produce.release.set()
        outcomes = await asyncio.gather(*callers)

    assert produce.runs == 1
    assert all(result is outcomes[0][0] for result, _ in outcomes), "every caller gets the same result"
    assert sorted(joined for _, joined in outcomes) == [False] + [True] * 19
    assert flights.in_flight == 0


async def test_a_finished_flight_does_not_serve_later_callers() -> None:
    flights = MemorySingleFlight()
    first, second = FakeProducer(result="first"), FakeProducer(result="second")
    first.release.set()
    second.release.set()

    assert await flights.run("k", first) == ("first", False)
    assert await flights.run("k", second) == ("second", False)
    assert (first.runs, second.runs) == (1, 1)


async def test_different_keys_run_in_parallel() -> None:
    flights = MemorySingleFlight()
    a, b = FakeProducer(result="a"), FakeProducer(result="b")

    async def a_waits_for_b() -> object:
        await b.started.wait()  # deadlocks (and times out) if key b had to wait for key a
        b.release.set()
        return await a()

    a.release.set()
    async with hang_guard("the flight's callers to be served"):
        outcomes = await asyncio.gather(flights.run("a", a_waits_for_b), flights.run("b", b))

    assert outcomes == [("a", False), ("b", False)]


async def test_a_producer_error_reaches_every_waiter_and_frees_the_key() -> None:
    flights = MemorySingleFlight()
    failing = FakeProducer(error=RuntimeError("provider down"))

    async with hang_guard("the flight's callers to be served"):
        callers = [asyncio.create_task(flights.run("k", failing)) for _ in range(5)]
        await failing.started.wait()
        failing.release.set()
        outcomes = await asyncio.gather(*callers, return_exceptions=True)

    assert failing.runs == 1
    assert all(isinstance(o, RuntimeError) and str(o) == "provider down" for o in outcomes)
    assert flights.in_flight == 0
    recovered = FakeProducer(result="fresh")
    recovered.release.set()
    assert await flights.run("k", recovered) == ("fresh", False)
    assert recovered.runs == 1


@pytest.mark.parametrize("cancelled", [0, 1], ids=["leader", "joiner"])
async def test_cancelling_one_caller_does_not_cancel_the_producer_for_the_others(cancelled: int) -> None:
    flights = MemorySingleFlight()
    produce = FakeProducer(result="content")

    async with hang_guard("the flight's callers to be served"):
        callers = [asyncio.create_task(flights.run("k", produce)) for _ in range(3)]
        await produce.started.wait()
        callers[cancelled].cancel()
        with pytest.raises(asyncio.CancelledError):
            await callers[cancelled]
        produce.release.set()
        survivors = await asyncio.gather(*(c for i, c in enumerate(callers) if i != cancelled))

    assert produce.runs == 1
    assert [result for result, _ in survivors] == ["content", "content"]
    assert flights.in_flight == 0


async def test_a_caller_that_gives_up_at_its_deadline_leaves_the_producer_running_for_the_others() -> None:
    flights = MemorySingleFlight()
    produce = FakeProducer(result="content")

    async with hang_guard("the flight's callers to be served"):
        patient = asyncio.create_task(flights.run("k", produce))
        await produce.started.wait()
        with pytest.raises(TimeoutError):
            await flights.run("k", produce, timeout_s=0.01)
        produce.release.set()
        result = await patient

    assert result == ("content", False)
    assert produce.runs == 1


async def test_an_in_place_leader_produces_in_its_own_task_and_its_joiners_share_the_result() -> None:
    flights = MemorySingleFlight()
    produce = FakeProducer(result="content")
    producing_in: list[asyncio.Task[object] | None] = []

    async def recorded() -> object:
        producing_in.append(asyncio.current_task())
        return await produce()

    async with hang_guard("the flight's callers to be served"):
        leader = asyncio.create_task(flights.run("k", recorded, in_place=True))
        await produce.started.wait()
        joiners = [asyncio.create_task(flights.run("k", recorded, in_place=True)) for _ in range(3)]
        await asyncio.sleep(0)  # the joiners join
        produce.release.set()
        outcomes = await asyncio.gather(leader, *joiners)

    assert producing_in == [leader], "the producer ran once, in the leader's own task"
    assert outcomes == [("content", False)] + [("content", True)] * 3
    assert flights.in_flight == 0


async def leading_in_place(flights: MemorySingleFlight, produce: FakeProducer) -> asyncio.Task[tuple[object, bool]]:
    """A caller that starts the flight of key `k` in place, once its producer runs."""
    leader = asyncio.create_task(flights.run("k", produce, in_place=True))
    await produce.started.wait()
    return leader


async def test_when_an_in_place_leader_is_cancelled_the_callers_that_joined_start_the_flight_again() -> None:
    flights = MemorySingleFlight()
    first, again = FakeProducer(result="never"), FakeProducer(result="content")

    async with hang_guard("the flight's callers to be served"):
        leader = await leading_in_place(flights, first)
        joiners = [asyncio.create_task(flights.run("k", again)) for _ in range(3)]
        await asyncio.sleep(0)  # the joiners join
        leader.cancel()  # what only the server's shutdown does to an HTTP answer
        with pytest.raises(asyncio.CancelledError):
            await leader
        await again.started.wait()  # one of the joiners leads now
        again.release.set()
        outcomes = await asyncio.gather(*joiners)

    assert (first.runs, again.runs) == (1, 1)
    assert sorted(outcomes) == [("content", False)] + [("content", True)] * 2
    assert flights.in_flight == 0


async def test_a_joiner_that_joins_again_after_its_leader_left_still_gives_up_at_its_deadline() -> None:
    flights = MemorySingleFlight()
    first, again = FakeProducer(result="never"), FakeProducer(result="late")

    async with hang_guard("the flight's callers to be served"):
        leader = await leading_in_place(flights, first)
        restarted = asyncio.create_task(flights.run("k", again))  # joins; leads once the leader is gone
        patient = asyncio.create_task(flights.run("k", again, timeout_s=0.05))  # joins; then joins `restarted`
        await asyncio.sleep(0)
        leader.cancel()
        with pytest.raises(TimeoutError):
            await patient  # its one deadline passes while the second flight goes on
        again.release.set()
        assert await restarted == ("late", False)
        with pytest.raises(asyncio.CancelledError):
            await leader


def test_a_generation_crosses_processes_as_the_flight_result_json_it_was_and_comes_back_equal() -> None:
    """Only a caller in another process reads a flight's bytes (`RedisSingleFlight`): they are the
    `FlightResult` JSON of before, and decode to the outcome (a run's) or the hit (the durable tier's)."""
    outcome = Outcome(
        generation_id="g1",
        status=GenerationStatus.COMPLETE,
        deterministic=True,
        seed=7,
        provider="builtin",
        tokens=12,
        content=GeneratedContentPayload(type=GenerationType.DIALOGUE, dialogue=["A: hello"]),
    )
    hit = Hit(outcome, "durable", b"the entry's bytes")

    made = FLIGHT_CODEC.encode(outcome)
    found = FLIGHT_CODEC.encode(hit)

    assert made == FlightResult(outcome=outcome).model_dump_json().encode()
    assert found == FlightResult(outcome=outcome, tier="durable").model_dump_json().encode()
    assert FLIGHT_CODEC.decode(made) == outcome
    decoded_hit = FLIGHT_CODEC.decode(found)
    assert isinstance(decoded_hit, Hit)
    assert (decoded_hit.outcome, decoded_hit.tier) == (outcome, "durable")


async def test_a_producer_ending_with_a_base_exception_still_frees_the_key_and_tells_its_callers() -> None:
    """A `BaseExceptionGroup` (a task group's) is neither an `Exception` nor a cancellation: the callers get it
    and the key is free again, as with any other failure."""
    flights = MemorySingleFlight()

    async def produce() -> str:
        raise BaseExceptionGroup("stage failed", [KeyboardInterrupt()])

    with pytest.raises(BaseExceptionGroup):
        await flights.run("k", produce)
    assert not flights.is_running("k")
