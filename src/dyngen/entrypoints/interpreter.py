"""The interpreter settings of a long-running dyngen process (`dyngen serve`, `dyngen worker`, `dyngen warm`),
and the event loop it runs on (`run`).

The garbage collector. What startup made (modules, the app, pools, schemas: ~200k objects) lives as long as
the process: frozen, out of the collector's sight, a full collection no longer walks it (issue 18: at c=32
the full collections cost a cache miss ~1 ms of CPU on average). A miss leaves ~150 tracked objects behind
(most freed by reference counting), so at the default threshold of 700 the young generation was collected
every ~5 misses: ~0.13 ms of CPU per miss at c=32, ~0.02 ms at `SERVING_GC_THRESHOLDS`. Memory stays
bounded: RSS after 20k misses at c=32 was the same as with the defaults (~212 MB, flat from ~15k on: the
memos filling, not garbage).

The thread switch interval. The group-commit writer's thread gives up the GIL around each SQLite call and
must get it back from the event loop, which holds it while it runs Python: by default for up to 5 ms each
time. With 0.5 ms, a record of a miss at c=32 waited 7.1-7.3 ms for its batch instead of 9.5-9.8 ms, and
the service path made 488-491 misses/s instead of 464-472 (`bench.warmup`'s, 50 ms provider).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

SERVING_GC_THRESHOLDS = (10_000, 10, 10)
"""The collector's thresholds while a process serves or generates (set after startup's objects are frozen)."""
SERVING_SWITCH_INTERVAL_S = 0.0005
"""How long a thread may hold the GIL while another waits for it, while a process serves or generates."""


class _Inside:
    """The blocks inside `long_running` now, and the settings the last one out gives back."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blocks = 0
        self.thresholds: tuple[int, int, int] = (700, 10, 10)
        self.interval = 0.005
        self.frozen_before = False


_inside = _Inside()


@contextmanager
def long_running() -> Iterator[None]:
    """Freeze what exists now, collect young objects less often and let threads take turns sooner, until the
    block ends; then the process gets its own settings back (a test that serves again leaves nothing
    uncollectable). Blocks may overlap (two apps in one test process): the first one in sets the settings,
    the last one out gives them back. A process that froze objects before (the test suite, after collecting)
    keeps its freeze as it is: nothing more is frozen, so nothing is left frozen afterwards either."""
    with _inside.lock:
        if _inside.blocks == 0:
            first, second, third = gc.get_threshold()
            _inside.thresholds, _inside.interval = (first, second, third), sys.getswitchinterval()
            _inside.frozen_before = gc.get_freeze_count() > 0
            if not _inside.frozen_before:
                gc.collect()
                gc.freeze()
            gc.set_threshold(*SERVING_GC_THRESHOLDS)
            sys.setswitchinterval(SERVING_SWITCH_INTERVAL_S)
        _inside.blocks += 1
    try:
        yield
    finally:
        with _inside.lock:
            _inside.blocks -= 1
            if _inside.blocks == 0:
                sys.setswitchinterval(_inside.interval)
                gc.set_threshold(*_inside.thresholds)
                if not _inside.frozen_before:
                    gc.unfreeze()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to its end on the event loop `dyngen serve` runs on: uvloop when installed (uvicorn's
    `standard` extra brings it, but not on Windows), else asyncio's own. A worker on asyncio's loop spent ~17 %
    of its CPU per job in the loop's own Python (py-spy during `python -m bench jobs`); on uvloop its jobs/s and
    CPU per job did not move beyond that benchmark's noise on a 2-core machine: the point is one loop for all."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
