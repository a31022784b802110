"""`LocalObjectStore`: objects as files in a folder on the local disk (the embedded default)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

SCHEME = "local://"


class LocalObjectStore:
    """Objects under `<root>/<key>`, written atomically (write then rename).

    Args:
        root: The folder that holds the objects; created when needed.
    """

    name = "local"

    def __init__(self, *, root: Path) -> None:
        self._root = root.resolve()

    def uri(self, key: str) -> str:
        return f"{SCHEME}{key}"

    def key_of(self, uri: str) -> str:
        if not uri.startswith(SCHEME):
            raise ValueError(f"not a local object uri: {uri!r}")
        return uri.removeprefix(SCHEME)

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        if not path.is_relative_to(self._root) or path == self._root:
            raise ValueError(f"object key escapes the store: {key!r}")
        return path

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def _delete(self, paths: list[Path]) -> int:
        removed = 0
        for path in paths:
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._read, self._path(key))

    async def delete(self, keys: Iterable[str]) -> int:
        return await asyncio.to_thread(self._delete, [self._path(k) for k in keys])

    async def ping(self) -> None:
        await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)
        if not os.access(self._root, os.W_OK):
            raise PermissionError(f"object folder {self._root} is not writable")
