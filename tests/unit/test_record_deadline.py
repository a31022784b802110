"""How long a generation's record may wait for the database within its node's deadline."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import pytest

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import run_ports
from dyngen.config import MEMORY_URL, Settings
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.records import GenerationRecord
from dyngen.services.generation.drift import LOOKUP_SHARE, drifted
from dyngen.services.generation.runs import RECORD_GRACE_S, record_within_s
from tests.fakes import FakeClock


def test_a_record_leaves_the_answer_a_margin_of_the_node_deadline() -> None:
    """Issue 12: under a database that never answers, the record's wait ended at the node's deadline and
    the outbox, the cache and the response came after it (answers at 3.2-3.6 s for a 3 s node)."""
    assert record_within_s(left_s=3.0, timeout_s=3.0, record_timeout_s=10.0) == 2.5
    assert record_within_s(left_s=1.0, timeout_s=1.0, record_timeout_s=10.0) == 0.8, "a short deadline: a share"
    assert record_within_s(left_s=3.0, timeout_s=3.0, record_timeout_s=1.0) == 1.0, "the setting caps it"
    assert record_within_s(left_s=0.1, timeout_s=3.0, record_timeout_s=10.0) == RECORD_GRACE_S


async def test_the_seed_drift_lookup_takes_a_share_of_what_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12: the first miss of a key looks up its history for the seed-drift check; under a database
    that never answers that lookup took all that was left of the deadline, and the answer came after it."""
    clock = FakeClock()
    services = await build(Settings(database_url=MEMORY_URL, providers_by_type={}), clock=clock)
    try:
        ports = run_ports(services)
        asked: list[float] = []

        async def run_within(name: str, work: Coroutine[Any, Any, Any], *, timeout_s: float) -> Any:
            work.close()
            asked.append(timeout_s)
            raise TimeoutError

        monkeypatch.setattr(ports.tasks, "run_within", run_within)
        record = GenerationRecord(
            id="g1",
            created_at=clock.now(),
            cache_key="k",
            version=1,
            type="transition",
            purpose="gap_fill",
            strategy="once",
            seed=1,
            seed_source="fixed",
            deterministic=True,
            status=GenerationStatus.COMPLETE,
            config_fingerprint="f",
            request={},
        )
        assert await drifted(record, deadline=clock.monotonic() + 2.0, ports=ports) is False
        assert asked == [2.0 * LOOKUP_SHARE]
    finally:
        await services.aclose()
