"""`FileRecordOutbox`: generation records kept in a local folder while the database cannot take them.

The database's counterpart of the artifact spool (`adapters/storage/artifacts.py`): one JSON file per
record, written to a temporary name and renamed into place, so that a file that exists is complete and a
process killed mid-write leaves nothing half-read. File names start with the time they were written, so
that records are replayed in the order they were made. Several processes may share the folder (the API's
workers, `dyngen worker`): each record has its own file, and replaying one twice is harmless (the
repository's `add` is idempotent by id).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path

from dyngen.domain.records import ArtifactRecord, GenerationRecord

log = logging.getLogger("dyngen.outbox")
_SUFFIX = ".json"


class FileRecordOutbox:
    """Records waiting for the database, in `directory` (rejected ones in `directory/rejected`).

    Args:
        directory: The outbox folder (created on first use).
    """

    def __init__(self, *, directory: Path) -> None:
        self._dir = directory
        self._rejected = directory / "rejected"
        # What this process knows is waiting; `waiting()` recounts the folder (other processes' records).
        self._count = sum(1 for _ in self._files())
        # What the files written or read here hold (a file is never changed once in place): which file holds
        # each generation id (a name whose file is gone is dropped when next asked for: `_file_of`, `remove`)
        # and each artifact id (changed under `_indexing` only, which `_artifact` iterates). A lookup reads the
        # one file that holds what it looks for, and a replay removes each record by the name it read it under,
        # not by listing the folder again.
        self._names: dict[str, str] = {}
        self._holders: dict[str, str] = {}
        self._indexed: set[str] = set()
        self._indexing = threading.Lock()

    def _files(self) -> list[Path]:
        try:
            with os.scandir(self._dir) as entries:
                names = [e.name for e in entries if e.name.endswith(_SUFFIX) and e.is_file()]
        except FileNotFoundError:
            return []
        return [self._dir / name for name in sorted(names)]

    def _file_of(self, generation_id: str) -> Path | None:
        # A file this process wrote or read (`_learn`), else the folder listed: a replay removes each record it
        # writes, and listing the folder for each made a replay of N records list it N times.
        name = self._names.get(generation_id)
        if name is not None:
            if (path := self._dir / name).is_file():
                return path
            self._names.pop(generation_id, None)  # another process replayed it
        # Compared, never joined into a path: an id from a request names no file.
        for path in self._files():
            if path.name.partition("-")[2] == f"{generation_id}{_SUFFIX}":
                return path
        return None

    async def put(self, record: GenerationRecord) -> None:
        await asyncio.to_thread(self._write, record)
        self._count += 1
        log.warning("outbox.record_kept id=%s key=%s", record.id, record.cache_key)

    def _write(self, record: GenerationRecord) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / f"{time.time_ns():020d}-{record.id}{_SUFFIX}"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(record.model_dump_json())
        tmp.replace(path)
        self._learn(path.name, record)

    def _learn(self, name: str, record: GenerationRecord) -> None:
        """File `name` holds `record` (written or read here; called from threads)."""
        with self._indexing:
            self._names[record.id] = name
            self._holders.update((artifact.id, name) for artifact in record.artifacts)
            self._indexed.add(name)

    def holding(self) -> bool:
        return self._count > 0

    async def waiting(self) -> list[GenerationRecord]:
        records = await asyncio.to_thread(self._read_all)
        self._count = len(records)
        return records

    def _read_all(self) -> list[GenerationRecord]:
        records = []
        for path in self._files():
            try:
                records.append(GenerationRecord.model_validate_json(path.read_bytes()))
            except FileNotFoundError:
                continue  # another process replayed it meanwhile
            self._learn(path.name, records[-1])
        return records

    async def remove(self, generation_id: str) -> None:
        path = await asyncio.to_thread(self._file_of, generation_id)
        if path is not None:
            path.unlink(missing_ok=True)
        self._names.pop(generation_id, None)
        self._count = max(0, self._count - 1)

    async def reject(self, generation_id: str) -> None:
        path = await asyncio.to_thread(self._file_of, generation_id)
        if path is not None:
            self._rejected.mkdir(parents=True, exist_ok=True)
            path.replace(self._rejected / path.name)
        self._names.pop(generation_id, None)
        self._count = max(0, self._count - 1)
        log.error("outbox.record_rejected id=%s kept_in=%s", generation_id, self._rejected)

    async def get(self, generation_id: str) -> GenerationRecord | None:
        path = await asyncio.to_thread(self._file_of, generation_id)
        if path is None:
            return None
        try:
            return GenerationRecord.model_validate_json(await asyncio.to_thread(path.read_bytes))
        except FileNotFoundError:
            return None  # replayed meanwhile: the database has it now

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        return await asyncio.to_thread(self._artifact, artifact_id)

    def _artifact(self, artifact_id: str) -> ArtifactRecord | None:
        """The artifact from the file that holds it; the files that came since the last lookup are read
        once, into the index (a lookup during an outage read every file: a replay of thousands of records
        crawled under the lookups of the players' URLs)."""
        with self._indexing:  # listed under the lock: a name learned meanwhile is on disk, not taken for gone
            names = {path.name for path in self._files()}
            if gone := self._indexed - names:
                self._indexed -= gone
                self._holders = {a: name for a, name in self._holders.items() if name not in gone}
            new = names - self._indexed
        for name in new:
            try:
                self._learn(name, GenerationRecord.model_validate_json((self._dir / name).read_bytes()))
            except FileNotFoundError:
                continue  # replayed meanwhile
        holder = self._holders.get(artifact_id)  # possibly learned by another thread since: read by its name
        if holder is None:
            return None
        try:
            record = GenerationRecord.model_validate_json((self._dir / holder).read_bytes())
        except FileNotFoundError:
            return None  # replayed meanwhile: the database has it now
        return next((artifact for artifact in record.artifacts if artifact.id == artifact_id), None)
