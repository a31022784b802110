"""`SqlAlchemyJobRepository`: async jobs as generation records, their leases and their event streams.

Every state change is one conditional UPDATE, so two runners can never both own a job: a claim only takes
a job that is queued (or whose lease expired), a heartbeat only extends a lease its owner still holds.

With the process's group-commit writer (adapters/db/writer.py), a job's events and its final record are
written with the other writes of the moment, in one transaction (issue 18: a job wrote four events and
its record in five transactions of its own). A job's events go with the write they belong to: `queued`
with its new record, `started` with its claim, the terminal one with its final record. A job awaits each
of its writes before the next, so its events are committed in the order it wrote them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, and_, bindparam, cast, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from dyngen.adapters.db.repository import (
    SqlAlchemyGenerationRepository,
    add_records,
    db_time,
    insert_artifacts,
    insert_records,
    record_from_row,
    record_row,
    renew_lease,
    retrying,
    to_utc,
)
from dyngen.adapters.db.tables import generation_artifacts, generation_events, generations
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.records import GenerationRecord
from dyngen.ports import DuplicateIdempotencyKey, GenerationFilter, JobEvent, NewJobEvent, QueueStats

QUEUED = GenerationStatus.QUEUED.value
PROCESSING = GenerationStatus.PROCESSING.value


class SqlAlchemyJobRepository(SqlAlchemyGenerationRepository):
    """Generations plus the job operations (it is the same table: a job is its generation record)."""

    async def _one(self, **where: Any) -> GenerationRecord | None:
        stmt = select(generations.c.id)
        for column, value in where.items():
            stmt = stmt.where(generations.c[column] == value)
        async with self._engine.connect() as conn:
            found = (await conn.execute(stmt.limit(1))).scalar()
        return await self.get(found) if found else None

    async def add(self, record: GenerationRecord, *, events: Sequence[NewJobEvent] = ()) -> None:
        event_rows = [_event_row(record.id, e.type, e.data, e.at) for e in events]
        if self._writer is not None and record.idempotency_key is None:
            # With the other writes of the moment; a job already stored (a write run again after a lost
            # acknowledgement) is left as it is, its events too.
            await self._writer.write(self._batched(record, event_rows))
            return
        try:
            await retrying(lambda: self._add_job(record, event_rows))
        except IntegrityError as exc:
            key = record.idempotency_key
            if key is not None and await self.by_idempotency_key(key) is not None:
                raise DuplicateIdempotencyKey(key) from exc
            if await self.get(record.id) is None:
                raise
            # A retry after a lost acknowledgement: the first attempt did commit.

    def _batched(self, record: GenerationRecord, event_rows: list[dict[str, Any]] | None = None) -> _NewJobWrite:
        return _NewJobWrite(record, event_rows or [], self._engine.dialect.name == "postgresql")

    async def _add_job(self, record: GenerationRecord, event_rows: list[dict[str, Any]]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(generations.insert().values(**record_row(record)))
            await insert_artifacts(conn, record)
            if event_rows:
                await conn.execute(INSERT_EVENTS, event_rows)

    async def by_idempotency_key(self, key: str) -> GenerationRecord | None:
        return await retrying(lambda: self._one(idempotency_key=key))

    async def active_for(self, *, cache_key: str, fingerprint: str) -> GenerationRecord | None:
        async def run() -> GenerationRecord | None:
            stmt = (
                select(generations.c.id)
                .where(generations.c.cache_key == cache_key)
                .where(generations.c.config_fingerprint == fingerprint)
                .where(generations.c.status.in_([QUEUED, PROCESSING]))
                .where(generations.c.cancel_requested.is_(False))
                .order_by(generations.c.created_at)
                .limit(1)
            )
            async with self._engine.connect() as conn:
                found = (await conn.execute(stmt)).scalar()
            return await self.get(found) if found else None

        return await retrying(run)

    async def claim(
        self,
        job_id: str,
        *,
        owner: str,
        now: datetime,
        lease_until: datetime,
        started: Callable[[GenerationRecord], NewJobEvent] | None = None,
    ) -> GenerationRecord | None:
        params = _claim_params(job_id, owner=owner, now=now, lease_until=lease_until)
        if self._writer is not None:
            # With the other writes of the moment (a worker's jobs claim, start and end together).
            write = _ClaimWrite(params, started)
            await self._writer.write(write)
            return write.claimed

        async def run() -> GenerationRecord | None:
            async with self._engine.begin() as conn:
                claimed = _claimed((await conn.execute(CLAIM, params)).mappings().first())
                if claimed is not None and started is not None:
                    await conn.execute(INSERT_EVENTS, [_started_row(claimed, started)])
            return claimed

        return await retrying(run)

    async def heartbeat(self, job_id: str, *, owner: str, lease_until: datetime) -> tuple[bool, bool]:
        return await retrying(
            lambda: renew_lease(
                self._engine, generations, job_id, owner=owner, running=PROCESSING, lease_until=lease_until
            )
        )

    async def finish(self, record: GenerationRecord, *, events: Sequence[NewJobEvent] = ()) -> None:
        row = _final_row(record)
        event_rows = [_event_row(record.id, e.type, e.data, e.at) for e in events]
        if self._writer is not None:
            await self._writer.write(_FinishWrite(row, _artifact_rows(record), event_rows))
            return

        async def run() -> None:
            async with self._engine.begin() as conn:
                if not (await conn.execute(FINISH, row)).rowcount:
                    return  # final already (see FINISH)
                await insert_artifacts(conn, record)
                if event_rows:
                    await conn.execute(INSERT_EVENTS, event_rows)

        await retrying(run)

    async def fail_queued(self, record: GenerationRecord) -> bool:
        async def run() -> bool:
            row = record_row(record) | {"lease_owner": None, "lease_expires_at": None}
            row.pop("id")
            async with self._engine.begin() as conn:
                done = await conn.execute(
                    update(generations)
                    .where(generations.c.id == record.id, generations.c.status == QUEUED)
                    .values(**row)
                )
            return bool(done.rowcount)

        return await retrying(run)

    async def requeue(self, job_id: str, *, attempts: int, owner: str | None) -> bool:
        async def run() -> bool:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(generations)
                    .where(
                        generations.c.id == job_id,
                        generations.c.status == PROCESSING,
                        generations.c.lease_owner.is_(None) if owner is None else generations.c.lease_owner == owner,
                    )
                    .values(status=QUEUED, lease_owner=None, lease_expires_at=None, job_attempts=attempts)
                )
                return bool(result.rowcount)

        return await retrying(run)

    async def request_cancel(self, job_id: str) -> GenerationRecord | None:
        async def run() -> GenerationRecord | None:
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(generations)
                    .where(generations.c.id == job_id, generations.c.status.in_([QUEUED, PROCESSING]))
                    .values(cancel_requested=True)
                )
            return await self.get(job_id)

        return await retrying(run)

    async def expired(self, *, now: datetime) -> list[GenerationRecord]:
        return await self._ids_to_records(
            select(generations.c.id).where(
                generations.c.status == PROCESSING, generations.c.lease_expires_at < to_utc(now)
            )
        )

    async def queued(self, *, before: datetime) -> list[GenerationRecord]:
        return await self._ids_to_records(
            select(generations.c.id)
            .where(generations.c.status == QUEUED, generations.c.queued_at < to_utc(before))
            .order_by(generations.c.queued_at)
        )

    async def _ids_to_records(self, stmt: Any) -> list[GenerationRecord]:
        async def run() -> list[GenerationRecord]:
            async with self._engine.connect() as conn:
                ids = [r[0] for r in (await conn.execute(stmt.limit(1000))).all()]
            if not ids:
                return []
            found = {r.id: r for r in await self.find(GenerationFilter(limit=1000), ids=ids)}
            return [found[i] for i in ids if i in found]  # in the query's order (oldest first for queued)

        return await retrying(run)

    async def add_event(self, job_id: str, type_: str, data: dict[str, Any], *, at: datetime) -> int:
        if self._writer is not None:
            write = _EventWrite(_event_row(job_id, type_, data, at))
            await self._writer.write(write)
            return write.id

        async def run() -> int:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    generation_events.insert().values(
                        generation_id=job_id, type=type_, data=data, created_at=to_utc(at)
                    )
                )
            key = result.inserted_primary_key
            return int(key[0]) if key else 0

        return await retrying(run)

    async def events_after(self, job_id: str, after_id: int) -> list[JobEvent]:
        async def run() -> list[JobEvent]:
            stmt = (
                select(generation_events)
                .where(generation_events.c.generation_id == job_id, generation_events.c.id > after_id)
                .order_by(generation_events.c.id)
            )
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
            return [
                JobEvent(
                    id=row["id"],
                    job_id=row["generation_id"],
                    type=row["type"],
                    data=row["data"],
                    created_at=db_time(row["created_at"]) or row["created_at"],
                )
                for row in rows
            ]

        return await retrying(run)

    async def queue_stats(self) -> QueueStats:
        async def run() -> QueueStats:
            stmt = select(func.count(), func.min(generations.c.queued_at)).where(generations.c.status == QUEUED)
            async with self._engine.connect() as conn:
                count, oldest = (await conn.execute(stmt)).one()
            return QueueStats(depth=int(count), oldest_queued_at=db_time(oldest))

        return await retrying(run)


# The statements a job's run writes, built once: a statement built per write (its values inlined) costs
# SQLAlchemy more than the database takes to run it (its construction and its cache key, per write).
# FINISH sets the columns its parameters name (a job's whole row) of a job not final yet: a final record
# written twice (its outbox replay while its own write still waited in the writer's queue, a batch run again
# after a lost commit reply) changes nothing the second time, and its artifacts and events are not added again.
FINISH = update(generations).where(
    generations.c.id == bindparam("job_id"), generations.c.status.in_([QUEUED, PROCESSING])
)
INSERT_EVENTS = generation_events.insert()
INSERT_EVENTS_RETURNING = generation_events.insert().returning(generation_events.c.id, sort_by_parameter_order=True)


def _final_row(record: GenerationRecord) -> dict[str, Any]:
    """A job's final row as FINISH's parameters: every column but its id, its lease cleared."""
    row = record_row(record) | {"lease_owner": None, "lease_expires_at": None}
    row["job_id"] = row.pop("id")
    return row


def _event_row(job_id: str, type_: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"generation_id": job_id, "type": type_, "data": data, "created_at": to_utc(at)}


def _started_row(claimed: GenerationRecord, started: Callable[[GenerationRecord], NewJobEvent]) -> dict[str, Any]:
    event = started(claimed)
    return _event_row(claimed.id, event.type, event.data, event.at)


def _artifact_rows(record: GenerationRecord) -> list[dict[str, Any]]:
    return [{**a.model_dump(), "created_at": to_utc(a.created_at)} for a in record.artifacts]


@dataclass(slots=True, eq=False)
class _EventWrite:
    """A job event for the group-commit writer: the events of a batch are one multi-row insert, each told
    its id (`id`, set once the batch ran)."""

    row: dict[str, Any]
    id: int = field(default=0)

    def write_all(self, conn: Connection, group: list[_EventWrite]) -> None:
        ids = conn.execute(INSERT_EVENTS_RETURNING, [write.row for write in group]).scalars().all()
        for write, event_id in zip(group, ids, strict=True):
            write.id = int(event_id)


@dataclass(frozen=True, slots=True)
class _FinishWrite:
    """A job's final record for the group-commit writer: an UPDATE per job of the batch not final yet, then
    one insert of the artifacts of the jobs it finished and one of their terminal events."""

    row: dict[str, Any]
    artifacts: list[dict[str, Any]]
    events: list[dict[str, Any]]

    def write_all(self, conn: Connection, group: list[_FinishWrite]) -> None:
        # One UPDATE each (a batch holds a few): only the jobs it finished get their artifacts and events.
        group = [write for write in group if conn.execute(FINISH, write.row).rowcount]
        artifacts = [a for write in group for a in write.artifacts]
        if artifacts:
            conn.execute(generation_artifacts.insert(), artifacts)
        events = [e for write in group for e in write.events]
        if events:
            conn.execute(INSERT_EVENTS, events)


_AT = bindparam("claim_at", type_=generations.c.started_at.type)
# Take the job if it is queued (or its lease expired) and not cancelled; returns its row.
CLAIM = (
    update(generations)
    .where(
        generations.c.id == bindparam("claim_id"),
        or_(
            generations.c.status == QUEUED,
            and_(generations.c.status == PROCESSING, generations.c.lease_expires_at < _AT),
        ),
        generations.c.cancel_requested.is_(False),
    )
    .values(
        status=PROCESSING,
        lease_owner=bindparam("claim_owner"),
        lease_expires_at=bindparam("claim_lease_until", type_=generations.c.lease_expires_at.type),
        started_at=func.coalesce(generations.c.started_at, _AT),
    )
    .returning(*generations.c)
)


def _claim_params(job_id: str, *, owner: str, now: datetime, lease_until: datetime) -> dict[str, Any]:
    return {"claim_id": job_id, "claim_owner": owner, "claim_at": to_utc(now), "claim_lease_until": to_utc(lease_until)}


_TIME = DateTime(timezone=True)
_CLAIMED = (
    func.unnest(
        cast(bindparam("claim_ids"), postgresql.ARRAY(String)),
        cast(bindparam("claim_owners"), postgresql.ARRAY(String)),
        cast(bindparam("claim_ats"), postgresql.ARRAY(_TIME)),
        cast(bindparam("claim_leases"), postgresql.ARRAY(_TIME)),
    )
    .table_valued("id", "owner", "at", "lease_until")
    .render_derived("claims")
)
# CLAIM for several jobs in one statement (PostgreSQL): each row of the arrays is one claim's parameters.
CLAIM_MANY = (
    update(generations)
    .where(
        generations.c.id == _CLAIMED.c.id,
        or_(
            generations.c.status == QUEUED,
            and_(generations.c.status == PROCESSING, generations.c.lease_expires_at < _CLAIMED.c.at),
        ),
        generations.c.cancel_requested.is_(False),
    )
    .values(
        status=PROCESSING,
        lease_owner=_CLAIMED.c.owner,
        lease_expires_at=_CLAIMED.c.lease_until,
        started_at=func.coalesce(generations.c.started_at, _CLAIMED.c.at),
    )
    .returning(*generations.c)
)


def _claim_all(conn: Connection, group: list[_ClaimWrite]) -> None:
    """Run a batch's claims as CLAIM would one after the other: on PostgreSQL the first claim of each job
    in one statement (one round trip for the batch), then a job's further claims of the batch one by one
    (they see the first)."""
    if conn.dialect.name != "postgresql" or len(group) < 2:  # one claim needs no arrays
        for write in group:
            write.claimed = _claimed(conn.execute(CLAIM, write.params).mappings().first())
        return
    firsts: dict[str, _ClaimWrite] = {}
    for write in group:
        firsts.setdefault(write.params["claim_id"], write)
    params = [write.params for write in firsts.values()]
    rows = conn.execute(
        CLAIM_MANY,
        {
            "claim_ids": [p["claim_id"] for p in params],
            "claim_owners": [p["claim_owner"] for p in params],
            "claim_ats": [p["claim_at"] for p in params],
            "claim_leases": [p["claim_lease_until"] for p in params],
        },
    ).mappings()
    taken = {row["id"]: row for row in rows}
    for job_id, write in firsts.items():
        write.claimed = _claimed(taken.get(job_id))
    for write in group:
        if firsts[write.params["claim_id"]] is not write:
            write.claimed = _claimed(conn.execute(CLAIM, write.params).mappings().first())


def _claimed(row: Any) -> GenerationRecord | None:
    # A job gets its artifacts when it finishes: a job being claimed has none yet.
    return record_from_row(row, []) if row is not None else None


@dataclass(slots=True, eq=False)
class _ClaimWrite:
    """A claim for the group-commit writer: its conditional UPDATE runs in the batch's transaction;
    `claimed` holds the job's record once the batch committed (None: not claimable)."""

    params: dict[str, Any]
    started: Callable[[GenerationRecord], NewJobEvent] | None
    claimed: GenerationRecord | None = field(default=None)

    def write_all(self, conn: Connection, group: list[_ClaimWrite]) -> None:
        _claim_all(conn, group)
        events = [
            _started_row(write.claimed, write.started)
            for write in group
            if write.claimed is not None and write.started is not None
        ]
        if events:  # after every claim of the batch, in their order
            conn.execute(INSERT_EVENTS, events)


@dataclass(frozen=True, slots=True)
class _NewJobWrite:
    """A new job for the group-commit writer: the records of a batch are one multi-row insert that skips
    ids already stored, then one insert of the events of the jobs that went in (their `queued` events)."""

    record: GenerationRecord
    events: list[dict[str, Any]]
    postgres: bool

    def write_all(self, conn: Connection, group: list[_NewJobWrite]) -> None:
        if not any(write.events for write in group):  # records only: no ids needed back
            add_records(conn, [write.record for write in group], postgres=self.postgres)
            return
        added = set(insert_records(conn, [write.record for write in group], postgres=self.postgres))
        events = []
        for write in group:
            if write.record.id in added:
                added.discard(write.record.id)  # a job given twice in one batch has its events written once
                events.extend(write.events)
        if events:
            conn.execute(INSERT_EVENTS, events)
