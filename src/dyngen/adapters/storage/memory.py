"""`MemoryObjectStore`: objects in a dict of this process (the ephemeral embedded mode and the unit tests).

Lost when the process exits, like the memory repositories it goes with (`DYNGEN_DATABASE_URL=memory://`).
"""

from __future__ import annotations

from collections.abc import Iterable

SCHEME = "memory://"


class MemoryObjectStore:
    """Objects by key, held as bytes (a copy of what was put)."""

    name = "memory"

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}

    def uri(self, key: str) -> str:
        return f"{SCHEME}{key}"

    def key_of(self, uri: str) -> str:
        if not uri.startswith(SCHEME):
            raise ValueError(f"not a memory object uri: {uri!r}")
        return uri.removeprefix(SCHEME)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self._objects[key] = bytes(data)

    async def get(self, key: str) -> bytes | None:
        return self._objects.get(key)

    async def delete(self, keys: Iterable[str]) -> int:
        return sum(1 for key in keys if self._objects.pop(key, None) is not None)

    async def ping(self) -> None:
        """Always answers: the objects are in this process."""
