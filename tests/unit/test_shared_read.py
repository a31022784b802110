"""`SharedRead`: callers in flight share one read, each served by a read that started after it asked
(issue 18). Reads are held by events the test sets, never by sleeps; nothing times anything."""

from __future__ import annotations

import asyncio

import pytest

from dyngen.adapters.db.shared_read import SharedRead


class Store:
    """A value read through `read`; each read waits for `release` when the test holds reads."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.started = asyncio.Event()
        self.release: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def read(self) -> int:
        self.reads += 1
        seen = self.value  # what the read sees is fixed when it starts
        self.started.set()
        if self.release is not None:
            await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return seen


async def _until_started(store: Store) -> None:
    await store.started.wait()
    store.started.clear()


async def test_callers_that_arrive_together_share_one_read() -> None:
    store = Store()
    shared = SharedRead(store.read)

    assert await asyncio.gather(*(shared() for _ in range(20))) == [0] * 20
    assert store.reads == 1


async def test_a_caller_arriving_during_a_read_is_served_by_the_next_one_which_sees_a_later_change() -> None:
    store = Store()
    store.release = asyncio.Event()
    shared = SharedRead(store.read)
    first = asyncio.create_task(shared())
    await _until_started(store)
    store.value = 1  # changed after the running read started: the callers asking now must see it
    later = [asyncio.create_task(shared()) for _ in range(5)]
    await asyncio.sleep(0)
    store.release.set()

    assert await first == 0
    assert await asyncio.gather(*later) == [1] * 5
    assert store.reads == 2


async def test_a_failed_read_fails_its_callers_and_the_next_caller_reads_again() -> None:
    store = Store()
    store.fail = ConnectionError("refused")
    shared = SharedRead(store.read)

    results = await asyncio.gather(shared(), shared(), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
    store.fail = None
    assert await shared() == 0
    assert store.reads == 2


async def test_a_caller_that_gives_up_leaves_the_read_to_the_others() -> None:
    store = Store()
    store.release = asyncio.Event()
    shared = SharedRead(store.read)
    impatient = asyncio.create_task(shared())
    patient = asyncio.create_task(shared())
    await _until_started(store)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    store.release.set()

    assert await patient == 0
    assert store.reads == 1


async def test_a_read_that_never_answers_holds_only_callers_that_wait_for_it() -> None:
    store = Store()
    store.release = asyncio.Event()  # never set until the end: a database that accepts and never answers
    shared = SharedRead(store.read)
    first = asyncio.create_task(shared())
    await _until_started(store)
    queued = asyncio.create_task(shared())
    await asyncio.sleep(0)
    assert not first.done()
    assert not queued.done()
    first.cancel()  # each caller bounds its own wait (`current_policy`'s share of the deadline)
    queued.cancel()
    store.release.set()
    assert await shared() == 0  # served by a read that started after it asked
    assert store.reads == 2
