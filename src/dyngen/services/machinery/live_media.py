"""Artifacts still being made: a video a provider streams while it renders (`ports.MediaStream`), served
as it grows so that a player starts on its first second instead of waiting for the whole render.

A `LiveArtifact` holds the bytes written so far in this process. The generation that made it answers as
soon as it is playable (`services/generation/runs.py`) and goes on rendering; the artifact route follows
it until it ends (`read`): complete (the record and cache entry are written first), or failed, when every
reader's stream ends with an error. The provider's other artifacts (a poster, captions, the script) are
whole by then: they are handed out with the same answer (`WholeArtifact`), served from here until the
record that keeps them under the same ids is written. `LiveArtifacts` finds either by artifact id (the
artifact route) and the answer a released one was given by flight key (a second caller for the same
content while it renders). It is in-process state: only a deployment whose every request reaches this
process (the embedded mode) streams.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum

from dyngen.domain.responses import StageInfo
from dyngen.ports import ProviderResult
from dyngen.services.machinery.ids import new_id


class LiveState(Enum):
    WRITING = "writing"
    COMPLETE = "complete"
    FAILED = "failed"


class LiveArtifactFailedError(Exception):
    """The render behind a live artifact failed: what was streamed of it is not a whole artifact."""


@dataclass(frozen=True, slots=True)
class WholeArtifact:
    """An artifact the provider made whole before its video (a poster, captions, the script), handed out
    with the early answer under `id`: the generation's record keeps it under that id."""

    id: str
    role: str
    media_type: str
    data: bytes
    content_hash: str


class LiveArtifact:
    """One artifact being written (a `ports.MediaStream`).

    Attributes:
        id: The artifact's id, which its record takes once the render completes (the URL stays good).
        role: Its role (`video`).
        media_type: What it is (`video/mp4`).
        flight_key: The single flight of the generation that makes it.
        generation_id: The id of that generation's record, written before the artifact is whole.
        early: The result the provider said it will return (less this artifact), once playable.
        companions: Its other artifacts, whole, with the ids they are handed out with (once playable).
        stages: The pipeline stages run before the render (a pipeline's script stage), for the answer.
        released: The generation answered before the render ended: it can no longer be retried (the
            player holds this artifact's URL).
    """

    def __init__(self, *, role: str, media_type: str, flight_key: str, generation_id: str) -> None:
        self.id = new_id()
        self.generation_id = generation_id
        self.role = role
        self.media_type = media_type
        self.flight_key = flight_key
        self.early: ProviderResult | None = None
        self.companions: list[WholeArtifact] = []
        self.stages: list[StageInfo] | None = None
        self.released = False
        self.state = LiveState.WRITING
        self._data = bytearray()
        self._changed = asyncio.Event()
        self._playable = asyncio.Event()
        self._ended = asyncio.Event()

    @property
    def size(self) -> int:
        return len(self._data)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def write(self, data: bytes) -> None:
        if self.state is not LiveState.WRITING:
            return
        self._data += data
        self._notify()

    def playable(self, early: ProviderResult) -> None:
        """Enough is written to play (`ports.MediaStream`); `early`'s other artifacts get their ids."""
        if self.early is not None:
            return
        self.early = early
        self.companions = [
            WholeArtifact(
                id=new_id(),
                role=blob.role,
                media_type=blob.media_type,
                data=blob.data,
                content_hash=hashlib.sha256(blob.data).hexdigest(),
            )
            for blob in early.artifacts
            if not blob.primary
        ]
        self._playable.set()

    async def wait_playable(self) -> ProviderResult:
        await self._playable.wait()
        assert self.early is not None
        return self.early

    def finish(self) -> None:
        """The artifact is whole (and recorded): readers get the rest and the end."""
        if self.state is LiveState.WRITING:
            self.state = LiveState.COMPLETE
            self._ended.set()
            self._notify()

    def fail(self) -> None:
        """The render failed: every reader's stream ends with an error."""
        if self.state is LiveState.WRITING:
            self.state = LiveState.FAILED
            self._ended.set()
            self._notify()

    async def ended(self) -> None:
        """Wait until the render ended (whole and recorded, or failed)."""
        await self._ended.wait()

    def data(self) -> bytes:
        """The bytes written so far."""
        return bytes(self._data)

    async def read(self, start: int = 0) -> AsyncIterator[bytes]:
        """The bytes from `start` on, as they are written, until the artifact is whole.

        Raises:
            LiveArtifactFailedError: The render failed (after whatever was written before).
        """
        at = start
        while True:
            changed = self._changed
            if at < len(self._data):
                chunk = bytes(self._data[at:])
                at += len(chunk)
                yield chunk
                continue
            if self.state is LiveState.COMPLETE:
                return
            if self.state is LiveState.FAILED:
                raise LiveArtifactFailedError(f"artifact {self.id} failed while it was made")
            await changed.wait()


class LiveArtifacts:
    """The live artifacts of this process, by id, the whole artifacts handed out with them, by id, and the
    early answers of released ones, by flight key."""

    def __init__(self) -> None:
        self._by_id: dict[str, LiveArtifact] = {}
        self._by_generation: dict[str, LiveArtifact] = {}
        self._whole: dict[str, WholeArtifact] = {}
        self._answers: dict[str, object] = {}

    def open(self, *, role: str, media_type: str, flight_key: str, generation_id: str) -> LiveArtifact:
        live = LiveArtifact(role=role, media_type=media_type, flight_key=flight_key, generation_id=generation_id)
        self._by_id[live.id] = live
        self._by_generation[generation_id] = live
        return live

    def get(self, artifact_id: str) -> LiveArtifact | None:
        return self._by_id.get(artifact_id)

    def whole(self, artifact_id: str) -> WholeArtifact | None:
        """A whole artifact handed out with a video still rendering (its record is not written yet), or None."""
        return self._whole.get(artifact_id)

    def of_generation(self, generation_id: str) -> LiveArtifact | None:
        """The artifact a generation still renders (its record is not written yet), or None."""
        return self._by_generation.get(generation_id)

    def release(self, live: LiveArtifact, answer: object) -> None:
        """`live` was handed out with `answer`, and its whole artifacts with it: later callers for the same
        flight get the same answer, and the artifact route serves them."""
        live.released = True
        self._answers[live.flight_key] = answer
        self._whole.update((whole.id, whole) for whole in live.companions)

    def answer(self, flight_key: str) -> object | None:
        """The answer of a released artifact still being made for `flight_key`, or None."""
        return self._answers.get(flight_key)

    def close(self, live: LiveArtifact) -> None:
        """Forget `live` (its render ended: its record is written, or it failed)."""
        self._by_id.pop(live.id, None)
        self._by_generation.pop(live.generation_id, None)
        for whole in live.companions:
            self._whole.pop(whole.id, None)
        if live.released and self._answers.get(live.flight_key) is not None:
            self._answers.pop(live.flight_key, None)

    def __len__(self) -> int:
        return len(self._by_id)
