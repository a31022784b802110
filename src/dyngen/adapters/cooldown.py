"""`Cooldown`: how an adapter stops waiting on a dependency that failed, and tries it again.

After a failure (refused, timed out), calls fail at once for `cooldown_s`. Then exactly one call is let
through as a probe while every other call keeps failing at once: a dependency that accepts connections
and never answers costs one caller its timeout per cooldown, not every caller. The probe's success opens
the way for everyone again.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Cooldown:
    """The failure state of one dependency, shared by every caller in the process.

    Args:
        cooldown_s: Seconds after a failure during which calls fail at once.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(self, *, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._down_until = 0.0
        self._failing = False
        self._probing = False
        self.last_error: str | None = None

    @property
    def available(self) -> bool:
        """False while in the cooldown after a failure."""
        return self._clock() >= self._down_until

    @property
    def failing(self) -> bool:
        """True from a failure until the next success."""
        return self._failing

    def admit(self) -> bool:
        """Whether a call may go to the dependency now; True for the one probe after a cooldown.

        A caller admitted must report `succeeded()` or `failed()` (or `released()` when its call
        ended without telling whether the dependency answers).
        """
        if not self._failing:
            return True
        if not self.available or self._probing:
            return False
        self._probing = True
        return True

    def failed(self, error: BaseException) -> bool:
        """Record a failure; returns True when it starts an outage (the dependency was healthy)."""
        started = not self._failing
        self._failing = True
        self._probing = False
        self._down_until = self._clock() + self._cooldown_s
        self.last_error = f"{type(error).__name__}: {error}"[:300]
        return started

    def succeeded(self) -> bool:
        """Record an answer; returns True when it ends an outage."""
        ended = self._failing
        self._failing = False
        self._probing = False
        self._down_until = 0.0
        self.last_error = None
        return ended

    def released(self) -> None:
        """An admitted call ended without news of the dependency: let the next caller probe."""
        self._probing = False
