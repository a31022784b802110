"""A running job's progress events, held for the job's next write (issue 18: a job wrote each of its events
in a write of its own).

The events a job's run reports (its provider attempts, a cache hit, upstream progress) wait, at most
`delay_s`, for the job's next write: its final record (the usual case: a job that ends within `delay_s`
writes them with its record and its terminal event, in one transaction) or, after `delay_s`, a write of
their own (a long run's stream still sees them within `delay_s`). An event that a runner taking the job
over must find (the job the provider started upstream) is written at once, with those before it.

Whatever the path, a job's events are written in the order they were reported, before or with its final
record: `take` hands the held ones to the final write, after a write of them already under way ended. A
write of held events that fails (the database is down) leaves them held, for the final write: that goes
through the outbox when the database is still down, which keeps the record and its terminal event only,
as it keeps a synchronous generation's record.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from dyngen.ports import NewJobEvent

if TYPE_CHECKING:
    from dyngen.services.jobs.lifecycle import JobPorts

log = logging.getLogger("dyngen.jobs")
DELAY_S = 0.25  # how long a reported event waits for the job's next write


class HeldEvents:
    """A running job's reported events, until its next write.

    Args:
        ports: Where the job's events are written and announced (`lifecycle.JobPorts`).
        job_id: The job.
        delay_s: How long an event waits for the job's next write before it is written on its own.
    """

    def __init__(self, ports: JobPorts, job_id: str, *, delay_s: float = DELAY_S) -> None:
        self._ports = ports
        self._job_id = job_id
        self._delay_s = delay_s
        self._held: list[NewJobEvent] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None
        self._ended = False  # the job's next write took them, or its run stopped: no timer any more
        self._lock = asyncio.Lock()  # one write of held events at a time, in order

    async def report(self, type_: str, data: dict[str, Any]) -> None:
        """Hold an event for the job's next write; write it (with those before it) at once when a runner
        taking the job over must find it (`remote_job`)."""
        self._held.append(NewJobEvent(type_, data, self._ports.clock.now()))
        if "remote_job" in data:
            await self.flush()
            return
        if self._timer is None and self._writing is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay_s, self._due)

    def _due(self) -> None:
        self._timer = None
        self._writing = asyncio.ensure_future(self._write_due())

    async def _write_due(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # still held: the job's final write takes them
            log.warning("job.events_deferred id=%s error=%s", self._job_id, type(exc).__name__)
        finally:
            self._writing = None
            if self._held and self._timer is None and not self._ended:  # reported meanwhile, or not written
                self._timer = asyncio.get_running_loop().call_later(self._delay_s, self._due)

    async def flush(self) -> None:
        """Write the held events now, in order, and wake the job's listeners.

        Raises:
            The write's error; the events not written stay held, before any reported since.
        """
        async with self._lock:
            events, self._held = self._held, []
            for done, event in enumerate(events):
                try:
                    await self._ports.jobs.add_event(self._job_id, event.type, event.data, at=event.at)
                except BaseException:
                    self._held[:0] = events[done:]
                    raise
            if events:
                await self._ports.notifier.notify(self._job_id)
                for event in events:
                    self._ports.metrics.job_event(type_=event.type)

    async def take(self) -> list[NewJobEvent]:
        """The held events, for the job's next write to carry before its own (they are no longer held): a
        write of held events already under way ends first, so that the job's events keep their order."""
        self._ended = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is not None:
            await asyncio.shield(self._writing)  # it raises nothing: a failed write leaves its events held
        async with self._lock:
            events, self._held = self._held, []
        return events

    def close(self) -> None:
        """The run ended: drop the timer; held events are then written only by `flush` (a job queued again)
        or `take`, or not at all (its runner stops)."""
        self._ended = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
