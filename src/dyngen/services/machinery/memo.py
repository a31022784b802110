"""Bounded memos of pure computations on the hot path (parsing a request body, decoding a cache entry).

Both are functions of their input bytes alone, so remembering them is safe; the bound keeps memory flat.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from dyngen.domain.dsl import CompileResult

K = TypeVar("K")
V = TypeVar("V")


class LruMemo(Generic[K, V]):
    """A least-recently-used map with at most `max_entries` entries."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        if self._max <= 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class GenerationMemo:
    """Remembered pure work of the generation hot path: the read body and its prepared request (`Envelope`)
    by body digest, decoded cache entries (`CacheEntry`) by their bytes, compiled rules, and the response
    bytes of a hit (around its timing) per entry.

    The machinery does not know the generation's types (it sits below the use cases): the generation
    package names them where it reads these.
    """

    envelopes: LruMemo[bytes, Any] = field(default_factory=lambda: LruMemo(4096))
    entries: LruMemo[bytes, Any] = field(default_factory=lambda: LruMemo(4096))
    # Keyed by the entry's bytes, tier, cache key, the URLs' expiry (a hit's signed URLs change once per
    # tenth of their lifetime) and whether it is served stale.
    hit_templates: LruMemo[tuple[bytes, str, str, int, bool], tuple[bytes, bytes]] = field(
        default_factory=lambda: LruMemo(4096)
    )
    # Per cache key, what its completed generations made (`ContentHash`es, newest first): the seed-drift
    # check's history (services/generation/drift.py), read from the database once per key.
    hashes: LruMemo[str, tuple[Any, ...]] = field(default_factory=lambda: LruMemo(16384))
    rules: LruMemo[bytes, CompileResult] = field(default_factory=lambda: LruMemo(1024))
    # The fast path's memos (`generation/front_door.py`): a body's shape (the body without its player
    # context), and the prepared request per shape and what of the player context its preparation reads.
    shapes: LruMemo[str, Any] = field(default_factory=lambda: LruMemo(1024))
    shaped: LruMemo[tuple[Any, ...], Any] = field(default_factory=lambda: LruMemo(4096))
    # And what a body seen before whole made of it, by its digest: the same body again (a game asking for
    # the same node for the same player) skips cutting out and validating its player context.
    looks: LruMemo[bytes, Any] = field(default_factory=lambda: LruMemo(4096))
