"""Content providers and the circuit breaker their chains share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from dyngen.domain.contracts import GenerateContentRequest, GenerationType
from dyngen.domain.elements import ElementReport, JudgeAnswer
from dyngen.domain.responses import GeneratedContentPayload


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What a provider is and can do.

    Attributes:
        name: Registry name (`builtin`, `openai`, ...).
        generation_types: The generation types it can produce.
        media: Media types of the artifacts it writes (`application/json`, `video/mp4`, ...).
        deterministic: True when the same request and seed always give the same bytes.
        uses_scene_images: True when it draws on the scenes' `image`s; the service then fetches those that
            name stored artifacts into `ProviderCall.images`.
        remote: True when it calls a service over the network; without a `health` probe, `GET /api/health`
            then shows it `unchecked` rather than `ok` (an in-process provider has nothing to be down).
    """

    name: str
    generation_types: frozenset[GenerationType]
    media: frozenset[str]
    deterministic: bool
    uses_scene_images: bool = False
    remote: bool = False


class MediaStream(Protocol):
    """Where a provider may stream its primary artifact while it makes it, so that a player can start on it
    before it is done (`builtin_video`'s fragmented MP4). The service hands one to a call only when it can
    serve the artifact while it grows; a provider that cannot stream ignores it and returns its result as
    always. The bytes written must be exactly the primary artifact's bytes in the result.
    """

    async def write(self, data: bytes) -> None:
        """The artifact's next bytes."""
        ...

    def playable(self, early: ProviderResult) -> None:
        """Enough is written for a player to start, and the player is answered now.

        Args:
            early: The result the call will return, less its primary artifact (still being written): its
                payload, tokens and cost, and every other artifact (a poster, captions, the script) whole
                and byte for byte as the result will carry it, so that the answer given now names them too.
        """
        ...


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One attempt at generating content.

    Attributes:
        request: The validated request (scenes, style, constraints, contexts).
        seed: The resolved seed; a deterministic provider must give the same output for the same seed.
        attempt: 1 for the first try, 2 for the first retry, ...
        deadline_s: Seconds left before the node's timeout; the service also enforces it.
        images: Scene images that name stored artifacts, by that name: the bytes the service read from the
            artifact store (only for a provider whose info says `uses_scene_images`).
        remote_job: A job this provider already started upstream for this generation (a worker that died
            left it running): a `RemoteJobProvider` polls it instead of submitting again.
        on_remote_job: Told of each job a `RemoteJobProvider` starts upstream, so the service can keep it
            with the generation's job and hand it to whichever worker carries on.
        on_progress: Told of the upstream job's progress (a dict such as {"stage": "progress",
            "percent": 40}), for the job's event stream; None when nobody listens.
        script: The beats to render, written by a pipeline's script stage (a text provider): a video
            provider renders these (captions, a prompt built from them) instead of writing its own.
        stream: Where to stream the primary artifact while it is made (see `MediaStream`); None: don't.
    """

    request: GenerateContentRequest
    seed: int
    attempt: int
    deadline_s: float
    images: Mapping[str, bytes] = field(default_factory=dict)
    remote_job: RemoteJob | None = None
    on_remote_job: Callable[[RemoteJob], Awaitable[None]] | None = None
    on_progress: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    script: GeneratedContentPayload | None = None
    stream: MediaStream | None = None


@dataclass(frozen=True, slots=True)
class RemoteJob:
    """A job a provider started on the service it calls: the provider's name and the job's id there."""

    provider: str
    id: str


@dataclass(frozen=True, slots=True)
class ArtifactBlob:
    """Bytes a provider produced. `primary` marks the one the payload's `url` points at."""

    role: str
    media_type: str
    data: bytes
    primary: bool = False


@dataclass(frozen=True, slots=True)
class ProviderResult:
    """What a provider returns: the payload, its artifacts and what it cost.

    `answered_by` names the provider that made the content when it is not the one called (a chain's
    member); the response shows it. `report` is a model's own account of where it put the required
    elements and that the avoided ones are absent (its structured output), for the element check.
    """

    payload: GeneratedContentPayload
    artifacts: list[ArtifactBlob] = field(default_factory=list)
    tokens: int = 0
    cost: float = 0.0
    fingerprint: str = ""
    answered_by: str | None = None
    report: ElementReport | None = None


@runtime_checkable
class Provider(Protocol):
    """A content generator. Raises `DyngenError` with a GEN_* code when it cannot produce content."""

    info: ProviderInfo

    def estimate_cost(self, request: GenerateContentRequest) -> float: ...

    async def generate(self, call: ProviderCall) -> ProviderResult: ...


@runtime_checkable
class ElementJudge(Protocol):
    """A model asked whether content has some elements (a provider instance named as the judge)."""

    async def judge_elements(
        self, *, text: str, elements: Sequence[str], deadline_s: float
    ) -> tuple[dict[str, JudgeAnswer], float]:
        """Each element's answer (by `lexicon.element_key`; elements it did not answer are left out) and
        what the call cost.

        Raises:
            DyngenError: The judge could not be asked (GEN_TIMEOUT, GEN_PROVIDER_UNAVAILABLE, ...).
        """
        ...


@runtime_checkable
class RemoteJobProvider(Provider, Protocol):
    """A provider whose upstream service works in jobs. `generate` submits (or resumes `call.remote_job`),
    polls until the job ends and collects the result; these are its steps, for callers that drive them.
    """

    async def submit(self, call: ProviderCall) -> RemoteJob:
        """Start the job upstream; returns its handle."""
        ...

    async def poll(self, job: RemoteJob, call: ProviderCall) -> ProviderResult | None:
        """The result once the job has finished, None while it runs.

        Raises:
            DyngenError: The job failed upstream, or its result cannot be fetched.
        """
        ...

    async def cancel(self, job: RemoteJob) -> None:
        """Ask upstream to stop the job (best effort; never raises)."""
        ...


@dataclass(frozen=True, slots=True)
class Cooldown:
    """A provider that failed too often and is not tried until `until`.

    Attributes:
        until: When the cooldown ends (wall clock, UTC).
        reason: Why, e.g. "3 failures in 60 s (GEN_TIMEOUT)".
    """

    until: datetime
    reason: str


class CircuitBreaker(Protocol):
    """Counts provider failures; a provider that fails N times within a window cools down for a period.

    Successes do not reset the count: a provider failing every other call still trips it.

    Shared through Redis in scaled mode, so every process skips the same providers.
    """

    async def cooldown(self, name: str) -> Cooldown | None:
        """The provider's current cooldown, or None when it may be tried."""
        ...

    async def record_failure(self, name: str, *, code: str) -> Cooldown | None:
        """Count one failure (`code` is its GEN_* code); returns the cooldown when this one trips it."""
        ...

    async def cooldowns(self, names: Iterable[str]) -> dict[str, Cooldown]:
        """The current cooldowns among `names`."""
        ...
