"""Test fakes shared by every test that needs them (named Fake...)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from dyngen.domain.contracts import (
    ContentMetadata,
    GenerateContentRequest,
    GeneratedContentPayload,
    GenerationType,
    PayloadType,
)
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.ports import ApiKey, ArtifactBlob, ProviderCall, ProviderInfo, ProviderResult


class FakeProvider:
    """A provider whose behaviour each test scripts.

    Args:
        failures: Error codes to raise on the first attempts, one per call, in order.
        latency_s: Seconds each call takes (real asyncio sleep, so deadlines apply).
        crash: Raise a plain exception (a provider bug) on every call.
        mention: Extra words to put in the text (to break avoidElements on purpose).
        empty: Return a payload with no text and no artifacts.
    """

    def __init__(
        self,
        *,
        name: str = "fake",
        failures: Iterable[ErrorCode] = (),
        latency_s: float = 0.0,
        crash: bool = False,
        mention: str = "",
        empty: bool = False,
    ) -> None:
        self.info = ProviderInfo(
            name=name,
            generation_types=frozenset(GenerationType),
            media=frozenset({"application/json"}),
            deterministic=True,
        )
        self.failures = list(failures)
        self.latency_s = latency_s
        self.crash = crash
        self.mention = mention
        self.empty = empty
        self.calls: list[ProviderCall] = []

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        return 0.01

    async def generate(self, call: ProviderCall) -> ProviderResult:
        self.calls.append(call)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.crash:
            raise RuntimeError("provider bug")
        if self.failures:
            raise DyngenError(self.failures.pop(0), "scripted failure")
        if self.empty:
            return ProviderResult(payload=GeneratedContentPayload(type=PayloadType.DIALOGUE, dialogue=[]))
        elements = " and ".join(e.replace("_", " ") for e in call.request.constraints.required_elements)
        lines = [f"Line for seed {call.seed}.", f"It has {elements or 'nothing special'}. {self.mention}".strip()]
        payload = GeneratedContentPayload(
            type=PayloadType.DIALOGUE,
            duration=call.request.duration.target,
            dialogue=lines,
            metadata=ContentMetadata(mood=call.request.style.mood_to, tags=["fake"]),
        )
        blob = ArtifactBlob(
            role="script", media_type="application/json", data=payload.model_dump_json().encode(), primary=True
        )
        return ProviderResult(
            payload=payload, artifacts=[blob], tokens=len(" ".join(lines).split()), cost=0.01, fingerprint="fake/1"
        )


class FakeClock:
    """A clock that only moves when told (sleep advances it instantly)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self._monotonic += seconds
        self._now += timedelta(seconds=seconds)


class FakeManualClock(FakeClock):
    """A FakeClock whose `sleep` waits until the test advances the clock past its end (a background loop
    then runs one round per `advance`, instead of spinning)."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start)
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    @property
    def sleeping(self) -> int:
        """Sleeps waiting for the clock to move."""
        return sum(1 for _, waiter in self._sleepers if not waiter.done())

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._monotonic + seconds, waiter))
        await waiter

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        due = [entry for entry in self._sleepers if entry[0] <= self._monotonic]
        self._sleepers = [entry for entry in self._sleepers if entry[0] > self._monotonic]
        for _, waiter in due:
            if not waiter.done():
                waiter.set_result(None)


class FakeKeyRepository:
    """API keys in memory (by hash); `hang()` makes every call wait until `answer()`, as a database that
    accepts and never answers."""

    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}
        self._answering = asyncio.Event()
        self._answering.set()

    def hang(self) -> None:
        self._answering.clear()

    def answer(self) -> None:
        self._answering.set()

    async def add_key(self, key: ApiKey, *, key_hash: str) -> None:
        await self._answering.wait()
        self.keys[key_hash] = key

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        await self._answering.wait()
        return self.keys.get(key_hash)

    async def list_keys(self) -> list[ApiKey]:
        await self._answering.wait()
        return list(self.keys.values())

    async def revoke_key(self, key_id: str, *, at: datetime) -> bool:
        await self._answering.wait()
        return False

    async def count_active_keys(self) -> int:
        await self._answering.wait()
        return sum(1 for key in self.keys.values() if key.revoked_at is None)


class FakeRecordOutbox:
    """A `RecordOutbox` in memory (the file one is tested in tests/contract/test_record_outbox.py)."""

    def __init__(self) -> None:
        self.records: dict[str, GenerationRecord] = {}
        self.rejected: dict[str, GenerationRecord] = {}

    async def put(self, record: GenerationRecord) -> None:
        self.records[record.id] = record

    def holding(self) -> bool:
        return bool(self.records)

    async def waiting(self) -> list[GenerationRecord]:
        return list(self.records.values())

    async def remove(self, generation_id: str) -> None:
        self.records.pop(generation_id, None)

    async def reject(self, generation_id: str) -> None:
        if (record := self.records.pop(generation_id, None)) is not None:
            self.rejected[generation_id] = record

    async def get(self, generation_id: str) -> GenerationRecord | None:
        return self.records.get(generation_id)

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        found = (a for r in self.records.values() for a in r.artifacts if a.id == artifact_id)
        return next(found, None)
