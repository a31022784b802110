"""Where content and artifacts live: cache tiers, single flight, object stores, invalidation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class CacheTier(Protocol):
    """One layer of the content cache. Values are opaque bytes; `name` appears in `cache.tier`."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None: ...

    async def delete(self, keys: Iterable[str]) -> int: ...


@dataclass(frozen=True, slots=True)
class FlightCodec(Generic[T]):
    """How a flight's result crosses processes: `encode` to bytes for the callers waiting in other
    processes, `decode` back. A caller in the producer's own process gets the producer's object itself."""

    encode: Callable[[T], bytes]
    decode: Callable[[bytes], T]


BYTES: FlightCodec[bytes] = FlightCodec(encode=bytes, decode=bytes)


class SingleFlight(Protocol):
    """Runs one producer per key at a time; concurrent callers for the same key share its result."""

    async def run(
        self,
        key: str,
        produce: Callable[[], Awaitable[T]],
        *,
        codec: FlightCodec[T],
        timeout_s: float | None = None,
        in_place: bool = False,
    ) -> tuple[T, bool]:
        """Returns the result and True when this caller joined a flight another caller started: the
        producer's own object within its process, its bytes through `codec` in another.

        A caller that starts a flight has the producer run in a task of its own, so that its cancellation
        leaves the work going for the callers that joined; with `in_place`, in the caller's own task (for a
        caller nothing cancels but the process's shutdown: an HTTP answer). Should it be cancelled anyway, the
        callers that joined it start the flight again, one of them leading.

        Raises:
            TimeoutError: The result did not arrive within `timeout_s` (the flight itself goes on).
        """
        ...

    def is_running(self, key: str) -> bool:
        """True while this process runs (or waits on) a flight for `key`."""
        ...


class ObjectStore(Protocol):
    """Named blobs: a local folder or an S3-compatible bucket."""

    name: str

    def uri(self, key: str) -> str: ...

    def key_of(self, uri: str) -> str: ...

    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, keys: Iterable[str]) -> int: ...

    async def ping(self) -> None: ...


class InvalidationBus(Protocol):
    """Carries invalidated cache keys to every process, so their local tiers drop them too."""

    async def publish(self, keys: Iterable[str]) -> None: ...

    def subscribe(self, handler: Callable[[list[str]], Awaitable[Any]]) -> None: ...


class ArtifactStore(Protocol):
    """Durable bytes, addressed by the URI `put` returns."""

    async def put(self, data: bytes, *, media_type: str, content_hash: str, within_s: float | None = None) -> str:
        """Store the bytes; returns their URI. With `within_s`, a store that has not taken them by then
        leaves them in a durable spool (uploaded later) rather than holding the caller."""
        ...

    async def get(self, uri: str) -> bytes: ...

    async def delete(self, uris: Iterable[str]) -> int:
        """Remove the artifacts (from durable storage and from any spool); returns how many existed."""
        ...

    async def ping(self) -> None: ...

    async def pending(self) -> int:
        """Artifacts accepted but not yet in durable storage (a spool waiting for its store)."""
        ...
