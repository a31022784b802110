"""What was generated: writing generation records (through the outbox when the database cannot take
them), replaying the outbox, and reading records and artifact bytes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.ports import (
    ArtifactStore,
    GenerationFilter,
    GenerationRepository,
    JobRepository,
    NewJobEvent,
    RecordOutbox,
)
from dyngen.services.machinery.background import BackgroundTasks
from dyngen.services.machinery.container import Options
from dyngen.services.machinery.live_media import LiveArtifacts

log = logging.getLogger("dyngen.records")
T = TypeVar("T")


async def record_generation(
    *,
    record: GenerationRecord,
    within_s: float,
    repository: GenerationRepository,
    jobs: JobRepository,
    outbox: RecordOutbox | None,
    tasks: BackgroundTasks,
    events: Sequence[NewJobEvent] = (),
) -> bool:
    """Write a generation's record, within `within_s` seconds; True when the database took it.

    The player may already hold a URL naming the record's artifact, so the record must land: when the
    database does not take it in time (down, hung, or records already wait in the outbox ahead of it),
    it goes to the outbox, which is replayed when the database answers again (False). Without an outbox, a
    failure is logged (the player is served either way). A write given up on still finishes behind: in its
    batch when the store batches records (`add_soon`), else run by `tasks`. A job's final record finishes its
    job row, with `events` (its terminal event) in the same transaction; a record that goes to the outbox gets
    its terminal event when it is replayed.
    """
    if outbox is not None and outbox.holding():
        await outbox.put(record)  # the database is taken as down: no request waits on it
        return False
    try:
        # Queued in the writer's next batch at once, without a task of its own, when the store batches it. The
        # future is this call's own: a wait given up on (or cancelled when the service closes) leaves the
        # record in its batch, and awaiting it directly wakes this call in the turn its batch commits.
        batched = repository.add_soon(record) if record.queued_at is None else None
        if batched is not None:
            async with asyncio.timeout(within_s):
                await batched
        else:
            write = write_record(record, repository=repository, jobs=jobs, events=events)
            await tasks.run_within(f"record:{record.id}", write, timeout_s=within_s)
    except Exception as exc:
        if outbox is None:
            log.exception("generation.record_failed id=%s key=%s", record.id, record.cache_key)
            return False
        log.warning("generation.record_deferred id=%s key=%s error=%s", record.id, record.cache_key, type(exc).__name__)
        await outbox.put(record)
        return False
    return True


async def write_record(
    record: GenerationRecord,
    *,
    repository: GenerationRepository,
    jobs: JobRepository,
    events: Sequence[NewJobEvent] = (),
) -> None:
    """Add a generation's record, or, for a job's final record (its row exists since it was queued),
    finish the job with it (and `events`)."""
    if record.queued_at is None:
        await repository.add(record)
    else:
        await jobs.finish(record, events=events)


async def _replay(record: GenerationRecord, *, repository: GenerationRepository, jobs: JobRepository) -> None:
    """Write a kept record once (replaying it twice is harmless): a job the database already shows
    finished with this record is left alone; a job that finishes here gets its terminal event."""
    if record.queued_at is None:
        await repository.add(record)
        return
    current = await jobs.get(record.id)
    if current is not None and current.status is record.status and current.completed_at == record.completed_at:
        return
    terminal = "completed" if record.status is GenerationStatus.COMPLETE else "failed"
    data = {"generation_id": record.id} if terminal == "completed" else {"code": record.error_code}
    await jobs.finish(record, events=[NewJobEvent(terminal, data, record.completed_at or record.created_at)])


async def _replayed(
    record: GenerationRecord, *, repository: GenerationRepository, jobs: JobRepository, timeout_s: float
) -> bool | None:
    """True once the record is written; None when the database did not answer; False when it refused it."""
    try:
        async with asyncio.timeout(timeout_s):
            await _replay(record, repository=repository, jobs=jobs)
    except TimeoutError:
        return None
    except DyngenError as exc:
        return None if exc.code is ErrorCode.DEPENDENCY_UNAVAILABLE else False
    except Exception:
        log.exception("outbox.replay_refused id=%s", record.id)
        return False
    return True


async def replay_outbox(
    *, outbox: RecordOutbox, repository: GenerationRepository, jobs: JobRepository, timeout_s: float
) -> int:
    """Write the records waiting in the outbox to the database, oldest first; returns how many were written.

    Stops at the first record the database cannot take for want of an answer (it is still down); a record it
    refuses for good (it raised anything but DEPENDENCY_UNAVAILABLE or a timeout, twice: a batch of the
    group-commit writer fails every write in it, so a first refusal may be another write's) is set aside,
    so that it never blocks the others. Idempotent: a record the database already has counts as written.
    """
    written = 0
    for record in await outbox.waiting():
        taken = await _replayed(record, repository=repository, jobs=jobs, timeout_s=timeout_s)
        if taken is False:
            taken = await _replayed(record, repository=repository, jobs=jobs, timeout_s=timeout_s)
        if taken is None:
            break
        if not taken:
            await outbox.reject(record.id)
            continue
        await outbox.remove(record.id)
        written += 1
    if written:
        log.info("outbox.replayed count=%d", written)
    return written


async def outbox_loop(
    *, outbox: RecordOutbox | None, repository: GenerationRepository, jobs: JobRepository, options: Options
) -> None:
    """Replay the outbox now (records a previous run left) and every `outbox_replay_s` after."""
    if outbox is None:
        return
    while True:
        with contextlib.suppress(Exception):
            await replay_outbox(outbox=outbox, repository=repository, jobs=jobs, timeout_s=options.record_timeout_s)
        # Real time, like the artifact spool's loop: a test's FakeClock would turn this into a busy loop.
        await asyncio.sleep(options.outbox_replay_s)


async def get_generation(
    *,
    generation_id: str,
    repository: GenerationRepository,
    outbox: RecordOutbox | None,
    live: LiveArtifacts | None = None,
) -> GenerationRecord:
    """A generation's record; one answered while its video still renders (`live`) once that render ended
    (its record is written then). Raises DyngenError NOT_FOUND when no generation has this id."""
    rendering = live.of_generation(generation_id) if live is not None else None
    if rendering is not None:
        await rendering.ended()
    record = await _read(
        lambda: repository.get(generation_id),
        (lambda: outbox.get(generation_id)) if outbox is not None else None,
    )
    if record is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no generation {generation_id!r}")
    return record


async def list_generations(*, query: GenerationFilter, repository: GenerationRepository) -> list[GenerationRecord]:
    """Newest first, filtered by cache key, node, status and version."""
    return await repository.find(query)


async def get_artifact(
    *, artifact_id: str, repository: GenerationRepository, outbox: RecordOutbox | None, artifacts: ArtifactStore
) -> tuple[ArtifactRecord, bytes]:
    """An artifact's record and bytes (its record from the outbox while it waits there). Raises
    DyngenError NOT_FOUND for an unknown id."""
    record = await _read(
        lambda: repository.get_artifact(artifact_id),
        (lambda: outbox.get_artifact(artifact_id)) if outbox is not None else None,
    )
    if record is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no artifact {artifact_id!r}")
    return record, await artifacts.get(record.storage_uri)


async def _read(read: Callable[[], Awaitable[T | None]], waiting: Callable[[], Awaitable[T | None]] | None) -> T | None:
    """What the database has, else what waits in the outbox (also while the database cannot answer).

    A record the outbox's replay writes between the two reads is in neither when each looks: the database
    did not have it yet, the outbox not any more. It leaves the outbox only once committed, so the database
    is read once more when the outbox has nothing (a URL answered during an outage is not a 404 while the
    outbox is replayed: `python -m bench.faults --scenario postgres:hung`)."""
    try:
        found = await read()
    except DyngenError as exc:
        if waiting is None or exc.code is not ErrorCode.DEPENDENCY_UNAVAILABLE:
            raise
        if (found := await waiting()) is None:
            raise
        return found
    if found is None and waiting is not None and (found := await waiting()) is None:
        return await read()
    return found
