"""`SpoolingArtifactStore`: artifacts in the object store, spooled to local disk while it is unreachable.

A generation never fails because the object store is down: the bytes go to a durable local spool and the
artifact gets the URI it will have once uploaded; a background loop (`flush`) uploads the spool when the
store answers again, and reads fall back to the spool meanwhile. Nothing is lost across restarts: the
spool is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from dyngen.ports import ObjectStore

log = logging.getLogger("dyngen.artifacts")
_ARTIFACT_KEY = re.compile(r"artifacts/[0-9a-f]{2}/[0-9a-f]{64}")


class SpoolingArtifactStore:
    """Content-addressed artifacts (`artifacts/<hash[:2]>/<hash>`) in an `ObjectStore`.

    Args:
        store: Where artifacts live.
        spool_dir: Local folder for artifacts waiting to be uploaded.
        flush_interval_s: How often the background loop retries the spool.
        bounded: Whether `put`'s `within_s` applies: True for a store that can accept and never answer
            (S3); False waits for the store (a folder, memory), with no task per upload.
    """

    def __init__(
        self, *, store: ObjectStore, spool_dir: Path, flush_interval_s: float = 2.0, bounded: bool = True
    ) -> None:
        self._store = store
        self._bounded = bounded
        self._spool = spool_dir
        self._interval = flush_interval_s
        self._task: asyncio.Task[None] | None = None
        self._uploads: set[asyncio.Task[None]] = set()

    @staticmethod
    def _key(content_hash: str) -> str:
        return f"artifacts/{content_hash[:2]}/{content_hash}"

    def _spooled(self, key: str) -> Path:
        return self._spool / key.replace("/", "_")

    async def put(self, data: bytes, *, media_type: str, content_hash: str, within_s: float | None = None) -> str:
        """Upload the bytes, or spool them when the store fails, or has not answered within `within_s`.

        An upload that outlives `within_s` carries on in the background (within the store's own deadline,
        so that the store learns whether it answers); the bytes are spooled meanwhile, and the spool entry
        goes once either upload lands. The caller never waits on a silent store longer than it said.
        """
        key = self._key(content_hash)
        if within_s is None or not self._bounded:
            try:
                await self._store.put(key, data, content_type=media_type)
            except Exception as exc:  # the store is unreachable: keep the bytes locally and upload later
                await self._keep(key, data, media_type, exc)
            return self._store.uri(key)
        upload = asyncio.ensure_future(self._store.put(key, data, content_type=media_type))
        try:
            async with asyncio.timeout(within_s):
                await asyncio.shield(upload)
        except Exception as exc:  # unreachable, or silent past `within_s`: keep the bytes, upload later
            if not upload.done():
                self._uploads.add(upload)
                upload.add_done_callback(functools.partial(self._uploaded_late, key))
            await self._keep(key, data, media_type, exc)
        except BaseException:  # the caller is cancelled: nothing will name these bytes
            upload.cancel()
            raise
        return self._store.uri(key)

    async def _keep(self, key: str, data: bytes, media_type: str, error: Exception) -> None:
        log.warning("artifacts.spooled key=%s error=%s", key, type(error).__name__)
        await asyncio.to_thread(self._write_spool, key, data, media_type)

    def _uploaded_late(self, key: str, upload: asyncio.Task[None]) -> None:
        """A slow upload ended: its spool entry stays unless it landed (the flush loop uploads it then)."""
        self._uploads.discard(upload)
        if not upload.cancelled() and upload.exception() is None:
            self._unspool([key])

    def _write_spool(self, key: str, data: bytes, media_type: str) -> None:
        self._spool.mkdir(parents=True, exist_ok=True)
        path = self._spooled(key)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        # The metadata lands last: a spool entry is complete once its .json exists.
        path.with_suffix(".json").write_text(json.dumps({"key": key, "media_type": media_type}))

    async def get(self, uri: str) -> bytes:
        key = self._artifact_key(uri)
        spooled = self._spooled(key)
        if spooled.exists():
            return await asyncio.to_thread(spooled.read_bytes)
        data = await self._store.get(key)
        if data is None:
            raise FileNotFoundError(uri)
        return data

    def _artifact_key(self, uri: str) -> str:
        key = self._store.key_of(uri)
        if not _ARTIFACT_KEY.fullmatch(key):
            raise ValueError(f"not an artifact uri: {uri!r}")
        return key

    def _unspool(self, keys: list[str]) -> set[str]:
        removed: set[str] = set()
        for key in keys:
            spooled = self._spooled(key)
            spooled.with_suffix(".json").unlink(missing_ok=True)  # metadata first: no half-entry gets uploaded
            if spooled.exists():
                spooled.unlink(missing_ok=True)
                removed.add(key)
        return removed

    async def delete(self, uris: Iterable[str]) -> int:
        """Remove artifacts from the spool and the store; returns how many existed in either."""
        keys = sorted({self._artifact_key(uri) for uri in uris})
        if not keys:
            return 0
        spooled = await asyncio.to_thread(self._unspool, keys) if self._spool.exists() else set()
        if spooled:  # a spooled artifact may have been uploaded already: remove it there too
            await self._store.delete(sorted(spooled))
        return len(spooled) + await self._store.delete([k for k in keys if k not in spooled])

    async def ping(self) -> None:
        await self._store.ping()

    async def pending(self) -> int:
        """Artifacts waiting in the spool."""
        if not self._spool.exists():
            return 0
        return sum(1 for p in self._spool.iterdir() if p.suffix == ".json")

    async def flush(self) -> int:
        """Upload what the spool holds; returns how many were uploaded. Stops at the first failure."""
        if not self._spool.exists():
            return 0
        uploaded = 0
        for meta_path in sorted(self._spool.glob("*.json")):
            meta = json.loads(meta_path.read_text())
            data_path = meta_path.with_suffix("")
            if not data_path.exists():
                meta_path.unlink(missing_ok=True)
                continue
            data = await asyncio.to_thread(data_path.read_bytes)
            try:
                await self._store.put(meta["key"], data, content_type=meta["media_type"])
            except Exception:
                return uploaded
            data_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            uploaded += 1
        if uploaded:
            log.info("artifacts.spool_flushed count=%d", uploaded)
        return uploaded

    async def start(self) -> None:
        """Start the background flush loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="dyngen-artifact-spool")

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.flush()
            await asyncio.sleep(self._interval)

    async def aclose(self) -> None:
        for upload in list(self._uploads):  # the bytes are in the spool: the next start uploads them
            upload.cancel()
        await asyncio.gather(*self._uploads, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
