"""Bounded memos of pure computations on the hot path (parsing a request body, decoding a cache entry).

Both are functions of their input bytes alone, so remembering them is safe; the bound keeps memory flat.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from dyngen.domain.dsl import CompileResult

K = TypeVar("K")
V = TypeVar("V")

BODY_KEY_MAX = 4096
"""A request body up to this many bytes is its own memo key (`body_key`)."""

BodyKey = bytes | tuple[bytes]


def body_key(body: bytes) -> BodyKey:
    """The key a request body is remembered by: the body itself, up to `BODY_KEY_MAX` bytes; a longer one's
    BLAKE2b digest, in a tuple (the two kinds of key never meet).

    A body is its own key because looking it up then costs Python's hash of its bytes, cached on the bytes
    object (a by-reference call's flat body is looked up through the same object every time), where a
    digest of a 1.5 KB generate body cost ~2 us of a ~50 us hit (`python -m bench byref`). Equal keys are
    equal bodies: nothing is matched by chance. A key holds at most `BODY_KEY_MAX` bytes, less than the
    parsed request remembered under it.
    """
    if len(body) <= BODY_KEY_MAX:
        return body
    return (hashlib.blake2b(body, digest_size=16).digest(),)


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
    by body (`body_key`), decoded cache entries (`CacheEntry`) by their bytes, compiled rules, and the response
    bytes of a hit (around its timing) per entry.

    The machinery does not know the generation's types (it sits below the use cases): the generation
    package names them where it reads these.
    """

    envelopes: LruMemo[BodyKey, Any] = field(default_factory=lambda: LruMemo(4096))
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
    # And what a body seen before whole made of it, by `body_key`: the same body again (a game asking for
    # the same node for the same player) skips cutting out and validating its player context.
    looks: LruMemo[BodyKey, Any] = field(default_factory=lambda: LruMemo(4096))
