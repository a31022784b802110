"""Waiting in tests: on an event when the code under test sets one, else by polling a condition.

No wait here is a duration assertion. Every wait is bounded by one hang guard, `HANG_GUARD_S`: a guard
against a hang, never a duration assertion; pytest-timeout (120 s, pyproject) is the backstop. A test
that needs something to happen "in time" drives the time itself (FakeClock, FakeManualClock) or holds
the work on an event (FakeProvider's `hang`, `hang_after` and `release()`), so that it passes on a
machine whose other core is busy.

- `until(check, what=...)`: async; `check` is sync or async; returns its first truthy result.
- `wait_until(check, what=...)`: the same for sync tests (subprocesses, servers a test starts).
- `signalled(event, what=...)`: waits for an `asyncio.Event`, the way to prefer when there is one.
- `hang_guard(what)`: bounds a block that awaits something that must end on its own.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")

# A guard against a hang, never a duration assertion; pytest-timeout (120 s, pyproject) is the backstop.
HANG_GUARD_S = 90.0
# Between two looks at a condition nothing signals: short, so a wait ends soon after the condition holds.
POLL_S = 0.02


def _hung(what: str, last: object) -> AssertionError:
    return AssertionError(f"still waiting for {what} after the {HANG_GUARD_S:.0f} s hang guard; last: {last!r}")


async def until(check: Callable[[], T | Awaitable[T]], *, what: str) -> T:
    """Poll `check` (sync or async) until it returns something truthy, and return that.

    Raises:
        AssertionError: Still false after the hang guard (`what` names what never happened).
    """
    guard = time.monotonic() + HANG_GUARD_S
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]  # an awaitable's result is the T
        if time.monotonic() > guard:
            raise _hung(what, result)
        await asyncio.sleep(POLL_S)


def wait_until(check: Callable[[], T], *, what: str) -> T:
    """Poll `check` until it returns something truthy, and return that (for sync tests: a process or a
    server that can only be looked at).

    Raises:
        AssertionError: Still false after the hang guard (`what` names what never happened).
    """
    guard = time.monotonic() + HANG_GUARD_S
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > guard:
            raise _hung(what, result)
        time.sleep(POLL_S)


async def signalled(event: asyncio.Event, *, what: str) -> None:
    """Wait until `event` is set (woken by it, not by polling).

    Raises:
        AssertionError: Not set within the hang guard.
    """
    async with hang_guard(what):
        await event.wait()


@asynccontextmanager
async def hang_guard(what: str) -> AsyncIterator[None]:
    """Bound a block that must end on its own (a provider's deadline, a worker that drains): a hang
    fails the test naming `what` instead of waiting for pytest-timeout."""
    guard = asyncio.timeout(HANG_GUARD_S)
    try:
        async with guard:
            yield
    except TimeoutError as hung:
        if guard.expired():
            raise _hung(what, None) from hung
        raise  # the block's own TimeoutError, not the guard's
