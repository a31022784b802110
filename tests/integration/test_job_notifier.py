"""`RedisJobNotifier` across processes (one `RedisConnection` each): a job's event wakes the processes
that wait on that job, and Redis delivers it to those alone, not to every API process and worker; an event
of a job nobody waits on is not published at all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dyngen.adapters.jobs.notifier import RedisJobNotifier
from dyngen.adapters.messaging.redis import RedisConnection
from tests.support.databases import PATIENT_REDIS
from tests.support.waiting import hang_guard, until


@pytest.fixture
async def processes(redis_url: str, redis_prefix: str) -> AsyncIterator[list[RedisJobNotifier]]:
    connections = [RedisConnection(url=redis_url, prefix=redis_prefix, **PATIENT_REDIS) for _ in range(3)]
    for connection in connections:
        await connection.start()
    yield [RedisJobNotifier(connection=c, linger_s=0.5) for c in connections]
    for connection in connections:
        await connection.aclose()


async def listeners(notifier: RedisJobNotifier, job_id: str) -> int:
    channel = notifier.connection.private_channel("job", job_id)
    answer = await notifier.connection.client.pubsub_numsub(channel)
    return int(answer[0][1])


async def test_an_event_wakes_the_process_that_waits_on_its_job_and_reaches_no_other(
    processes: list[RedisJobNotifier],
) -> None:
    writer, streamer, bystander = processes
    await streamer.wait("job-1", timeout_s=30)  # the first wait listens, then returns for a look
    # Its own timeout is far past the hang guard: only the event can end this wait in the test.
    waiting = asyncio.ensure_future(streamer.wait("job-1", timeout_s=3600))
    assert await listeners(writer, "job-1") == 1, "only the process that waits listens to the job"

    await writer.notify("job-1")
    async with hang_guard("the event to wake the waiting stream"):
        await waiting

    assert await listeners(bystander, "job-1") == 1
    # Redis's own count of listeners changes with no event to wait on: polled.
    await until(lambda: _none(writer, "job-1"), what="the stream stopped waiting, so its process stops listening")


async def _none(notifier: RedisJobNotifier, job_id: str) -> bool:
    return await listeners(notifier, job_id) == 0


async def test_an_event_of_a_job_nobody_waits_on_is_not_published(processes: list[RedisJobNotifier]) -> None:
    writer, streamer, _ = processes
    observer = writer.connection.client.pubsub()
    await observer.psubscribe(writer.connection.private_channel("job", "*"))
    try:
        await writer.notify("nobody-waits")  # returns once published, had it been published
        await streamer.wait("job-1", timeout_s=30)  # listens and says so, then returns for a look
        await writer.notify("job-1")

        # Redis hands the observer the publishes in the order it took them: job-1's comes after any other.
        channels = []
        async with hang_guard("job-1's event, published to the process that waits on it"):
            while not channels or not channels[-1].endswith("~job-1"):
                message = await observer.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    channels.append(message["channel"].decode())
    finally:
        await observer.aclose()
    assert channels == [writer.connection.private_channel("job", "job-1")]


async def test_an_event_written_before_its_stream_began_waiting_still_wakes_the_stream(
    processes: list[RedisJobNotifier],
) -> None:
    """The stream looked at the job's events before the event was written, and the writer heard that the
    stream waits only after the write: the writer publishes the event's notify when the word comes."""
    writer, streamer, _ = processes
    await writer.notify("job-3")  # nobody waits on job-3 yet: not published, its id kept
    await streamer.wait("job-3", timeout_s=30)  # listens and says so
    # Its own timeout is far past the hang guard: only the late notify can end this wait in the test.
    waiting = asyncio.ensure_future(streamer.wait("job-3", timeout_s=3600))

    async with hang_guard("the late notify to wake the stream"):
        await waiting
