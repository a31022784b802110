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
from dyngen.ports import ArtifactBlob, ProviderCall, ProviderInfo, ProviderResult


class FakeProvider:
    """A provider whose behaviour each test scripts.

    Args:
        failures: Error codes to raise on the first attempts, one per call, in order.
        latency_s: Seconds each call takes: a real asyncio sleep, or, with `clock`, an instant advance of
            that clock (so a test drives the deadline with no wall-clock race).
        clock: The FakeClock the call's latency advances instead of sleeping.
        hang: Every call waits until `release()`: a provider that does not answer in time, on any machine.
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
        clock: FakeClock | None = None,
        hang: bool = False,
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
        self.clock = clock
        self.hang = hang
        self.released = asyncio.Event()
        self.calls: list[ProviderCall] = []

    def release(self) -> None:
        """Let every hanging call (and every later one) go on."""
        self.released.set()

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        return 0.01

    async def generate(self, call: ProviderCall) -> ProviderResult:
        self.calls.append(call)
        if self.hang:
            await self.released.wait()
        if self.latency_s and self.clock is not None:
            self.clock.advance(self.latency_s)
            await asyncio.sleep(0)
        elif self.latency_s:
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
