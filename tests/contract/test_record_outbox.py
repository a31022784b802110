"""The record outbox (issue 12): records the database could not take are kept on disk and written later,
once, on every database dyngen supports; a restart of the process loses none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import outbox as outbox_module
from dyngen.adapters.db import schema
from dyngen.adapters.db.jobs import SqlAlchemyJobRepository
from dyngen.adapters.db.outbox import FileRecordOutbox
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.ports import GenerationFilter
from dyngen.services.reporting import records
from dyngen.services.reporting.records import replay_outbox
from tests.contract.test_repository import K2, T0, artifact, record


@pytest.fixture
async def repository(engine: AsyncEngine) -> SqlAlchemyJobRepository:
    await schema.upgrade(engine)
    return SqlAlchemyJobRepository(engine=engine)


class Down:
    """A repository whose database cannot be reached."""

    async def add(self, record: GenerationRecord) -> None:
        raise DyngenError(ErrorCode.DEPENDENCY_UNAVAILABLE, "the database is unreachable")


async def test_kept_records_survive_a_restart_and_are_written_once_in_order(
    tmp_path: Path, repository: SqlAlchemyJobRepository
) -> None:
    first = FileRecordOutbox(directory=tmp_path / "outbox")
    kept = [record(f"g{i}", artifacts=[artifact(f"a{i}", f"g{i}")]) for i in range(3)]
    for r in kept:
        await first.put(r)
    assert first.holding()
    assert await replay_outbox(outbox=first, repository=Down(), jobs=Down(), timeout_s=5) == 0  # type: ignore[arg-type]
    assert first.holding(), "the database is still down: nothing is forgotten"

    restarted = FileRecordOutbox(directory=tmp_path / "outbox")  # a new process on the same data dir
    assert restarted.holding()
    assert [r.id for r in await restarted.waiting()] == ["g0", "g1", "g2"]
    assert await restarted.get("g1") == kept[1]
    assert await restarted.get_artifact("a2") == kept[2].artifacts[0]

    assert await replay_outbox(outbox=restarted, repository=repository, jobs=repository, timeout_s=5) == 3
    assert not restarted.holding()
    assert await restarted.waiting() == []
    assert [r.id for r in await repository.find(GenerationFilter())] == ["g0", "g1", "g2"]
    assert await repository.get_artifact("a1") == kept[1].artifacts[0]


async def test_replaying_a_record_the_database_already_has_is_harmless(
    tmp_path: Path, repository: SqlAlchemyJobRepository
) -> None:
    # A write that timed out on our side may still have committed: the record is both written and kept.
    written = record("g1", artifacts=[artifact("a1", "g1")])
    await repository.add(written)
    outbox = FileRecordOutbox(directory=tmp_path / "outbox")
    await outbox.put(written)
    other = FileRecordOutbox(directory=tmp_path / "outbox")  # another process replaying the same folder

    assert await replay_outbox(outbox=outbox, repository=repository, jobs=repository, timeout_s=5) == 1
    assert await replay_outbox(outbox=other, repository=repository, jobs=repository, timeout_s=5) == 0
    assert [r.id for r in await repository.find(GenerationFilter())] == ["g1"]
    assert await repository.get_artifact("a1") == written.artifacts[0]


async def test_a_record_the_database_refuses_is_set_aside_and_does_not_block_the_others(
    tmp_path: Path, repository: SqlAlchemyJobRepository
) -> None:
    outbox = FileRecordOutbox(directory=tmp_path / "outbox")
    # Two records sharing an artifact id: the second can never be written.
    await outbox.put(record("g1", artifacts=[artifact("a1", "g1")]))
    await outbox.put(record("g2", cache_key=K2, artifacts=[artifact("a1", "g2")]))
    await outbox.put(record("g3", cache_key=K2))

    assert await replay_outbox(outbox=outbox, repository=repository, jobs=repository, timeout_s=5) == 2
    assert not outbox.holding()
    assert sorted(r.id for r in await repository.find(GenerationFilter())) == ["g1", "g3"]
    assert [p.name.endswith("-g2.json") for p in (tmp_path / "outbox" / "rejected").iterdir()] == [True]


class FailedBatchOnce:
    """The repository, with its first write failing as a group-commit batch fails when another write of the
    batch clashes (every write in it gets that write's error)."""

    def __init__(self, repository: SqlAlchemyJobRepository) -> None:
        self.repository = repository
        self.failed = False

    async def add(self, record: GenerationRecord) -> None:
        if not self.failed:
            self.failed = True
            raise IntegrityError("INSERT INTO generation_artifacts ...", None, Exception("UNIQUE constraint failed"))
        await self.repository.add(record)


async def test_a_record_whose_batch_failed_for_another_write_is_written_not_set_aside(
    tmp_path: Path, repository: SqlAlchemyJobRepository
) -> None:
    outbox = FileRecordOutbox(directory=tmp_path / "outbox")
    kept = record("g1", artifacts=[artifact("a1", "g1")])
    await outbox.put(kept)
    failing = FailedBatchOnce(repository)

    assert await replay_outbox(outbox=outbox, repository=failing, jobs=repository, timeout_s=5) == 1  # type: ignore[arg-type]
    assert failing.failed
    assert not outbox.holding()
    assert not (tmp_path / "outbox" / "rejected").exists() or not any((tmp_path / "outbox" / "rejected").iterdir())
    assert await repository.get_artifact("a1") == kept.artifacts[0]


async def test_a_jobs_final_record_finishes_its_job_once_with_its_terminal_event(
    tmp_path: Path, repository: SqlAlchemyJobRepository
) -> None:
    queued = record("j1").model_copy(
        update={"status": GenerationStatus.QUEUED, "queued_at": T0, "content": None, "completed_at": None}
    )
    await repository.add(queued)  # the job's row, written when it was submitted
    final = record("j1", artifacts=[artifact("a1", "j1")]).model_copy(update={"queued_at": T0})
    outbox = FileRecordOutbox(directory=tmp_path / "outbox")
    await outbox.put(final)  # it finished while the database was down
    again = FileRecordOutbox(directory=tmp_path / "outbox")

    assert await replay_outbox(outbox=outbox, repository=repository, jobs=repository, timeout_s=5) == 1
    assert await replay_outbox(outbox=again, repository=repository, jobs=repository, timeout_s=5) == 0

    stored = await repository.get("j1")
    assert stored is not None
    assert (stored.status, stored.content) == (GenerationStatus.COMPLETE, final.content)
    assert await repository.get_artifact("a1") == final.artifacts[0]
    assert [e.type for e in await repository.events_after("j1", 0)] == ["completed"]


class ReplayedBetweenReads:
    """The repository, with the outbox replayed into it just after its first read of an id finds nothing:
    the record is in the database once the outbox is read, and no longer in the outbox."""

    def __init__(self, repository: SqlAlchemyJobRepository, outbox: FileRecordOutbox) -> None:
        self.repository = repository
        self.outbox = outbox
        self.replayed = False

    async def _then_replay(self, found: Any) -> Any:
        if found is None and not self.replayed:
            self.replayed = True
            replay = replay_outbox(outbox=self.outbox, repository=self.repository, jobs=self.repository, timeout_s=5)
            assert await replay == 1
        return found

    async def get(self, generation_id: str) -> GenerationRecord | None:
        return await self._then_replay(await self.repository.get(generation_id))

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        return await self._then_replay(await self.repository.get_artifact(artifact_id))


class Bytes:
    async def get(self, uri: str) -> bytes:
        return uri.encode()


@pytest.mark.parametrize("what", ["artifact", "generation"])
async def test_a_record_replayed_between_the_two_reads_is_found(
    tmp_path: Path, repository: SqlAlchemyJobRepository, what: str
) -> None:
    # Seen in `python -m bench.faults --scenario postgres:hung`: an artifact URL answered during the outage
    # was a 404 while the outbox was replayed (the database missed it, then the outbox no longer had it).
    outbox = FileRecordOutbox(directory=tmp_path / "outbox")
    kept = record("g0", artifacts=[artifact("a0", "g0")])
    await outbox.put(kept)
    racing = ReplayedBetweenReads(repository, outbox)

    if what == "artifact":
        found, data = await records.get_artifact(
            artifact_id="a0",
            repository=racing,  # type: ignore[arg-type]
            outbox=outbox,
            artifacts=Bytes(),  # type: ignore[arg-type]
        )
        assert (found, data) == (kept.artifacts[0], kept.artifacts[0].storage_uri.encode())
    else:
        assert await records.get_generation(generation_id="g0", repository=racing, outbox=outbox) == kept  # type: ignore[arg-type]
    assert racing.replayed
    assert not outbox.holding()


async def test_an_artifacts_lookup_reads_the_file_that_holds_it_once_the_folder_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # During an outage every URL a player loads is looked up in the outbox: reading every file for each
    # lookup made a replay of thousands of records crawl.
    outbox = FileRecordOutbox(directory=tmp_path / "outbox")
    other = FileRecordOutbox(directory=tmp_path / "outbox")  # another process on the same folder
    for i in range(20):  # written by the other process: this one reads them
        await other.put(record(f"g{i}", artifacts=[artifact(f"a{i}", f"g{i}")]))
    reads: list[bytes] = []
    parse = GenerationRecord.model_validate_json

    def counted(data: bytes) -> GenerationRecord:
        reads.append(data)
        return parse(data)

    monkeypatch.setattr(outbox_module.GenerationRecord, "model_validate_json", counted)

    assert await outbox.get_artifact("a3") == artifact("a3", "g3")
    first = len(reads)
    assert await outbox.get_artifact("a17") == artifact("a17", "g17")
    assert await outbox.get_artifact("nope") is None
    assert (first, len(reads) - first) == (21, 1), "the folder once, then only the file that holds it"

    await other.put(record("g20", artifacts=[artifact("a20", "g20")]))
    assert await outbox.get_artifact("a20") == artifact("a20", "g20")
    await other.remove("g3")
    assert await outbox.get_artifact("a3") is None, "a file gone (replayed) is forgotten"
    assert await outbox.get_artifact("a4") == artifact("a4", "g4")


async def test_a_replay_lists_the_folder_once_not_once_per_record(
    tmp_path: Path, repository: SqlAlchemyJobRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = FileRecordOutbox(directory=tmp_path / "outbox")
    for i in range(20):
        await outbox.put(record(f"g{i}", artifacts=[artifact(f"a{i}", f"g{i}")]))
    listed: list[int] = []
    files = FileRecordOutbox._files

    def counted(self: FileRecordOutbox) -> list[Path]:
        found = files(self)
        listed.append(len(found))
        return found

    monkeypatch.setattr(FileRecordOutbox, "_files", counted)

    assert await replay_outbox(outbox=outbox, repository=repository, jobs=repository, timeout_s=5) == 20
    assert listed == [20], "read once by `waiting`; each record removed by the name it was read under"
    assert not outbox.holding()
    assert not any((tmp_path / "outbox").glob("*.json"))
    assert len(await repository.find(GenerationFilter())) == 20
