"""What a provider attempt counts against a budget when it fails: the estimate when it may have been billed
(cut off by the deadline, or it answered with unusable output), nothing when it never reached a paid call;
and how a caller waits for a settlement under way (`settled`)."""

from __future__ import annotations

import asyncio

import pytest

from dyngen.domain.contracts import Simulate
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.services.generation.attempts import _spent, settled


def failure(code: ErrorCode) -> DyngenError:
    return DyngenError(code, "scripted")


@pytest.mark.parametrize(
    ("costs", "failed", "expected"),
    [
        pytest.param([0.02], None, 0.02, id="answered: its own figure"),
        pytest.param([0.02], failure(ErrorCode.GEN_CONSTRAINT_FAIL), 0.02, id="answered but refused: still paid"),
        pytest.param([], failure(ErrorCode.GEN_TIMEOUT), 0.05, id="cut off by the deadline: may be billed"),
        pytest.param([], failure(ErrorCode.GEN_EMPTY_OUTPUT), 0.05, id="unusable output twice: paid for"),
        pytest.param([], failure(ErrorCode.GEN_PROVIDER_UNAVAILABLE), None, id="refused or unreachable: given back"),
        pytest.param([], None, None, id="cancelled: given back, no ledger write while stopping"),
    ],
)
def test_a_failed_attempt_counts_its_estimate_only_when_it_may_have_been_billed(
    costs: list[float], failed: DyngenError | None, expected: float | None
) -> None:
    assert _spent(costs, failed, 0.05, forced=None) == expected


def test_a_failure_forced_by_simulate_never_reached_the_provider() -> None:
    forced = Simulate(fail_with="GEN_TIMEOUT")

    assert _spent([], failure(ErrorCode.GEN_TIMEOUT), 0.05, forced=forced) is None


async def test_a_settlement_cancelled_by_shutdown_ends_the_wait_without_cancelling_the_caller() -> None:
    settling = asyncio.ensure_future(asyncio.Event().wait())  # a ledger that does not answer
    waiting = asyncio.ensure_future(settled(settling))
    await asyncio.sleep(0)  # both started: the caller waits on the settlement

    settling.cancel()  # `BackgroundTasks.aclose` after its grace
    await asyncio.wait({waiting})

    assert not waiting.cancelled()
    assert waiting.exception() is None


async def test_a_caller_cancelled_while_it_waits_leaves_the_settlement_running() -> None:
    release = asyncio.Event()
    settling = asyncio.ensure_future(release.wait())
    waiting = asyncio.ensure_future(settled(settling))
    await asyncio.sleep(0)

    waiting.cancel()
    await asyncio.wait({waiting})
    release.set()
    await settling

    assert waiting.cancelled()
    assert settling.result() is True
