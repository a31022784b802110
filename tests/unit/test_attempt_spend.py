"""What a provider attempt counts against a budget when it fails: the estimate when it may have been billed
(cut off by the deadline, or it answered with unusable output), nothing when it never reached a paid call."""

from __future__ import annotations

import pytest

from dyngen.domain.contracts import Simulate
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.services.generation.attempts import _spent


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
