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


async def test_a_wait_that_comes_as_its_jobs_linger_ends_keeps_its_channel(
    processes: list[RedisJobNotifier],
) -> None:
    """The linger's stop and a new wait in one turn of the loop: the stop's unsubscribe, spawned first,
    must not take the channel the new wait subscribed (every later wait then ran to its timeout)."""
    writer, streamer, _ = processes
    await streamer.wait("job-l", timeout_s=30)
    streamer._stop("job-l")  # the linger timer's callback, as it fires
    await streamer.wait("job-l", timeout_s=30)  # the stream's next wait, before the stop's task ran
    waiting = asyncio.ensure_future(streamer.wait("job-l", timeout_s=3600))

    await writer.notify("job-l")
    async with hang_guard("the event to wake the stream that waited again"):
        await waiting
    assert await listeners(writer, "job-l") == 1


async def test_a_notify_lost_while_the_listener_was_down_wakes_the_stream_once_it_is_back(
    redis_url: str, redis_prefix: str
) -> None:
    name = f"{redis_prefix}-streamer"
    streamer_side = RedisConnection(url=f"{redis_url}?client_name={name}", prefix=redis_prefix, **PATIENT_REDIS)
    writer_side = RedisConnection(url=redis_url, prefix=redis_prefix, **PATIENT_REDIS)
    await streamer_side.start()
    await writer_side.start()
    back = asyncio.Event()

    async def reconnected() -> None:
        back.set()

    streamer_side.on_reconnect(reconnected)
    streamer, writer = RedisJobNotifier(connection=streamer_side), RedisJobNotifier(connection=writer_side)
    try:
        await streamer.wait("job-r", timeout_s=30)
        waiting = asyncio.ensure_future(streamer.wait("job-r", timeout_s=3600))
        admin = writer_side.client
        for client in await admin.client_list(_type="pubsub"):
            if client["name"] == name:
                await admin.client_kill_filter(_id=client["id"])  # the listener's connection drops
        await writer.notify("job-r")  # published while nobody listens: lost
        async with hang_guard("the stream to look again once its listener is back"):
            await back.wait()
            await waiting
    finally:
        await streamer_side.aclose()
        await writer_side.aclose()
