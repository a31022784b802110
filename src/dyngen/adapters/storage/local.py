"""`LocalArtifactStore`: content-addressed artifact files in a folder on the local disk."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

SCHEME = "file+dyngen://"


class LocalArtifactStore:
    """Writes each artifact once, under `<root>/<hash[:2]>/<hash>`, atomically (write then rename).

    Args:
        root: The folder that holds the artifacts; created on first write.
    """

    def __init__(self, *, root: Path) -> None:
        self._root = root.resolve()

    def _path(self, uri: str) -> Path:
        if not uri.startswith(SCHEME):
            raise ValueError(f"not a local artifact uri: {uri!r}")
        relative = uri.removeprefix(SCHEME)
        path = (self._root / relative).resolve()
        if not path.is_relative_to(self._root):
            raise ValueError(f"artifact uri escapes the store: {uri!r}")
        return path

    def _write(self, path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, data: bytes, *, media_type: str, content_hash: str) -> str:
        uri = f"{SCHEME}{content_hash[:2]}/{content_hash}"
        await asyncio.to_thread(self._write, self._path(uri), data)
        return uri

    async def get(self, uri: str) -> bytes:
        return await asyncio.to_thread(self._path(uri).read_bytes)

    async def ping(self) -> None:
        await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)
        if not os.access(self._root, os.W_OK):
            raise PermissionError(f"artifact folder {self._root} is not writable")
