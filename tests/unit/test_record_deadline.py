"""How long a generation's record may wait for the database within its node's deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports, run_ports
from dyngen.config import MEMORY_URL, Settings
from dyngen.domain.contracts import GenerateContentRequest, GenerationStatus
from dyngen.domain.records import GenerationRecord
from dyngen.ports import ProviderCall, ProviderResult
from dyngen.services.generation.drift import LOOKUP_SHARE, drifted
from dyngen.services.generation.front_door import generate_content
from dyngen.services.generation.runs import RECORD_GRACE_S, record_within_s
from tests.fakes import FakeClock, FakeProvider


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

        async def run_within(
            name: str, work: Coroutine[Any, Any, Any] | asyncio.Future[Any], *, timeout_s: float
        ) -> Any:
            if asyncio.iscoroutine(work):
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


async def test_the_seed_drift_history_is_read_while_the_provider_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18: the history read needs the key alone; read after the provider, it queued every miss's answer
    behind the other requests' work a second time. Here the provider answers only once the read is done."""
    read = asyncio.Event()

    class Provider(FakeProvider):
        async def generate(self, call: ProviderCall) -> ProviderResult:
            await read.wait()
            return await super().generate(call)

    services = await build(
        Settings(database_url=MEMORY_URL, providers_by_type={}), providers={"builtin": Provider(name="builtin")}
    )
    try:
        history = services.repository.content_hashes_soon

        def content_hashes_soon(cache_key: str) -> Any:
            found = history(cache_key)
            found.add_done_callback(lambda _: read.set())
            return found

        monkeypatch.setattr(services.repository, "content_hashes_soon", content_hashes_soon)
        request = GenerateContentRequest.model_validate(
            {"type": "transition", "node_id": "n", "strategy": "once", "seed": 7}
        )
        async with asyncio.timeout(30):
            answer = await generate_content(request=request, ports=generation_ports(services))
        assert answer.status is GenerationStatus.COMPLETE, answer.error
        assert answer.deterministic is True
    finally:
        await services.aclose()
