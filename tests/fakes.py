"""Test fakes shared by every test that needs them (named Fake...)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from dyngen.adapters.messaging.redis import RedisConnection
from dyngen.adapters.storage.memory import MemoryObjectStore
from dyngen.domain.cache_keys import ReviewScore
from dyngen.domain.contracts import GenerateContentRequest, GenerationType, PayloadType
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.domain.responses import Beat, ContentMetadata, GeneratedContentPayload
from dyngen.ports import (
    ApiKey,
    ApiKeyRepository,
    ArtifactBlob,
    MediaStream,
    Provider,
    ProviderCall,
    ProviderInfo,
    ProviderResult,
    RepositoryUnavailable,
)


class FakeProvider:
    """A provider whose behaviour each test scripts.

    Args:
        failures: Error codes to raise on the first attempts, one per call, in order.
        latency_s: Seconds each call takes: a real asyncio sleep, or, with `clock`, an instant advance of
            that clock (so a test drives the deadline with no wall-clock race).
        clock: The FakeClock the call's latency advances instead of sleeping.
        hang: Every call waits until `release()`: a provider that does not answer in time, on any machine.
        hang_after: The calls after this many wait until `release()` (a run that makes exactly that much
            progress, then stalls, whatever the machine's speed).
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
        hang_after: int | None = None,
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
        self.hang_after = hang_after
        self.released = asyncio.Event()
        self.calls: list[ProviderCall] = []

    def release(self) -> None:
        """Let every hanging call (and every later one) go on."""
        self.released.set()

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        return 0.01

    async def generate(self, call: ProviderCall) -> ProviderResult:
        self.calls.append(call)
        if self.hang or (self.hang_after is not None and len(self.calls) > self.hang_after):
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

    def timestamp(self) -> float:
        """The wall clock as epoch seconds (for adapters that take a `wall_clock` callable)."""
        return self._now.timestamp()

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


class FakeJobQueue:
    """A `JobQueue` that runs nothing: it keeps what was enqueued, as (job id, attempt), and what was cancelled."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, int]] = []
        self.cancelled: list[str] = []

    async def enqueue(self, job_id: str, *, defer_s: float = 0.0, attempt: int = 0) -> None:
        self.enqueued.append((job_id, attempt))

    async def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)


class FakeUnreachableProvider(FakeProvider):
    """A provider whose vendor does not answer its health check."""

    async def health(self) -> None:
        raise ConnectionError("api.vendor.example did not answer")


class FakeCutOffProvider(FakeProvider):
    """A provider that never answers; when its caller cuts it off (cancels the call at its deadline), the
    FakeClock moves on by exactly that deadline, as the wall clock did meanwhile. The time left after a
    cut-off is then exact, however late the busy machine's timer fired."""

    def __init__(self, *, clock: FakeClock, **options: Any) -> None:
        super().__init__(clock=clock, hang=True, **options)

    async def generate(self, call: ProviderCall) -> ProviderResult:
        try:
            return await super().generate(call)
        except asyncio.CancelledError:
            assert self.clock is not None
            self.clock.advance(call.deadline_s)
            raise


class FakeHangingCall:
    """An async callable (put in place of a repository method) that never answers: a database that
    accepts and stays silent. `entered` is set once it is called; `release()` lets the calls end."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self._released = asyncio.Event()
        self.calls: list[tuple[Any, ...]] = []

    async def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(args)
        self.entered.set()
        await self._released.wait()

    def release(self) -> None:
        self._released.set()


class FakeRefusedCall:
    """An async callable (put in place of a repository method) that fails at once with
    DEPENDENCY_UNAVAILABLE, as the repositories do while the database refuses connections."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(args)
        raise DyngenError(ErrorCode.DEPENDENCY_UNAVAILABLE, "the database refused the connection", retry_after_s=2)


class FakeProducer:
    """A single-flight producer that counts its runs and holds each run until `release` is set (a provider
    that hangs until the test lets it answer); then returns `result` or raises `error`."""

    def __init__(self, result: Any = "content", error: Exception | None = None) -> None:
        self.result = result
        self.error = error
        self.runs = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self) -> Any:
        self.runs += 1
        self.started.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.result


class FakeCountingConnection(RedisConnection):
    """A real `RedisConnection` that counts the Redis operations its process has made."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.operations = 0

    async def call(self, operation: Callable[[Any], Awaitable[Any]]) -> Any:
        try:
            return await super().call(operation)
        finally:
            self.operations += 1


class FakeCancelLosingConnection(RedisConnection):
    """A real `RedisConnection` whose next call, once `arm()`ed, loses a cancellation as redis-py 5.3's
    blocking connection pool was seen to under load: cancelled while it waits, the call goes on and
    returns normally. `entered` is set when the armed call starts; it waits for `release()`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entered = asyncio.Event()
        self._released = asyncio.Event()
        self._armed = False
        self.lost = 0

    def arm(self) -> None:
        self._armed = True

    def release(self) -> None:
        self._released.set()

    async def call(self, operation: Callable[[Any], Awaitable[Any]]) -> Any:
        if self._armed:
            self._armed = False
            self.entered.set()
            try:
                await asyncio.shield(self._released.wait())
            except asyncio.CancelledError:
                self.lost += 1
                await self._released.wait()
        return await super().call(operation)


class FakeCountingKeys:
    """The real API key repository, counting calls; `down` makes every call fail as an unreachable
    database does."""

    def __init__(self, inner: ApiKeyRepository) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.down = False

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise RepositoryUnavailable("the database is unreachable")

    async def add_key(self, key: ApiKey, *, key_hash: str) -> None:
        self._call("add_key")
        await self.inner.add_key(key, key_hash=key_hash)

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        self._call("key_by_hash")
        return await self.inner.key_by_hash(key_hash)

    async def list_keys(self) -> list[ApiKey]:
        self._call("list_keys")
        return await self.inner.list_keys()

    async def revoke_key(self, key_id: str, *, at: datetime) -> bool:
        self._call("revoke_key")
        return await self.inner.revoke_key(key_id, at=at)

    async def count_active_keys(self) -> int:
        self._call("count_active_keys")
        return await self.inner.count_active_keys()


class FakeScoreSource:
    """Review scores by cache key, as the review repository would give them."""

    def __init__(self, by_key: dict[str, ReviewScore]) -> None:
        self.by_key = by_key

    def scores_for(self, keys: tuple[str, ...]) -> dict[int, ReviewScore]:
        return {i: self.by_key[k] for i, k in enumerate(keys) if k in self.by_key}


class FakeVideoProvider:
    """A video provider that renders nothing real: a few bytes of "video", no text (so whether it shows the
    elements cannot be verified), a fixed cost. It keeps every call, with the script it was given."""

    def __init__(self, *, name: str = "fake_video", cost: float = 0.5) -> None:
        self.info = ProviderInfo(
            name=name,
            generation_types=frozenset({GenerationType.TRANSITION, GenerationType.VARIATION}),
            media=frozenset({"video/mp4"}),
            deterministic=True,
        )
        self.cost = cost
        self.calls: list[ProviderCall] = []

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        return self.cost

    async def generate(self, call: ProviderCall) -> ProviderResult:
        self.calls.append(call)
        payload = GeneratedContentPayload(type=PayloadType.VIDEO, duration=call.request.duration.target)
        blob = ArtifactBlob(role="video", media_type="video/mp4", data=b"not really an mp4", primary=True)
        return ProviderResult(payload=payload, artifacts=[blob], cost=self.cost, fingerprint=f"{self.info.name}/1")


class FakeStreamingVideoProvider(FakeVideoProvider):
    """A video provider that streams its "video" while it renders (`ProviderCall.stream`): `first` is
    written and said to be playable at once, the rest only once `render` is set (or the render fails then,
    with `fail`). `rendering` is set when it waits for `render`.

    Like `builtin_video`, its other artifacts (`companions`: a poster, captions, the script) and its
    payload's lines are made before the render, said with the video once it is playable and returned with it.
    """

    LINE = "Rain runs down the cafe window."

    def __init__(self, *, first: bytes = b"first fragment|", rest: bytes = b"the rest", fail: bool = False) -> None:
        super().__init__(name="fake_video", cost=0.0)
        self.first, self.rest, self.fail = first, rest, fail
        self.render = asyncio.Event()
        self.rendering = asyncio.Event()
        self.companions = [
            ArtifactBlob(role="poster", media_type="image/jpeg", data=b"\xff\xd8\xff a poster"),
            ArtifactBlob(
                role="captions",
                media_type="text/vtt",
                data=f"WEBVTT\n\n1\n00:00:00.000 --> 00:00:03.000\n{self.LINE}\n".encode(),
            ),
            ArtifactBlob(role="script", media_type="application/json", data=f'{{"dialogue":["{self.LINE}"]}}'.encode()),
        ]

    async def generate(self, call: ProviderCall) -> ProviderResult:
        self.calls.append(call)
        payload = GeneratedContentPayload(
            type=PayloadType.VIDEO,
            duration=call.request.duration.target,
            dialogue=[self.LINE],
            beats=[Beat(start=0.0, duration=3.0, kind="narration", text=self.LINE)],
        )
        early = ProviderResult(
            payload=payload, artifacts=list(self.companions), tokens=6, cost=0.0, fingerprint=f"{self.info.name}/1"
        )
        if call.stream is not None:
            await call.stream.write(self.first)
            call.stream.playable(early)
        self.rendering.set()
        await self.render.wait()
        if self.fail:
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, "the render failed half-way")
        if call.stream is not None:
            await call.stream.write(self.rest)
        blob = ArtifactBlob(role="video", media_type="video/mp4", data=self.first + self.rest, primary=True)
        return dataclasses.replace(early, artifacts=[blob, *early.artifacts])


class FakeHeldRender:
    """Wraps a provider that streams (a real `builtin_video`): once it said its video is playable, its next
    write waits until `release` is set, and so does its end (the encoder may have handed over every byte
    before the video was said playable: a short video, a busy machine), so the render is still running when
    the answer comes whatever this machine's speed (an order of events, not a duration)."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.info = inner.info
        self.release = asyncio.Event()

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        return self.inner.estimate_cost(request)

    async def generate(self, call: ProviderCall) -> ProviderResult:
        if call.stream is None:
            return await self.inner.generate(call)
        held = _HeldStream(call.stream, self.release)
        result = await self.inner.generate(dataclasses.replace(call, stream=held))
        if held.told:
            await self.release.wait()
        return result


class _HeldStream:
    def __init__(self, stream: MediaStream, release: asyncio.Event) -> None:
        self.stream, self.release, self.told = stream, release, False

    async def write(self, data: bytes) -> None:
        if self.told:
            await self.release.wait()
        await self.stream.write(data)

    def playable(self, early: ProviderResult) -> None:
        self.told = True
        self.stream.playable(early)


class FakeMediaStream:
    """A `ports.MediaStream` that keeps what a provider streams: the bytes, and the early result it said
    with its video once playable."""

    def __init__(self) -> None:
        self.data = b""
        self.early: ProviderResult | None = None

    async def write(self, data: bytes) -> None:
        self.data += data

    def playable(self, early: ProviderResult) -> None:
        self.early = early


class SilentStore(MemoryObjectStore):
    """An object store that accepts uploads and answers only once the test releases it (or fails them)."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.refuse = False
        self.started = 0

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.started += 1
        await self.answer.wait()
        if self.refuse:
            raise ConnectionResetError("the store hung up")
        await super().put(key, data, content_type=content_type)
