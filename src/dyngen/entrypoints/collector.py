"""The garbage collector of a long-running dyngen process (`dyngen serve`, `dyngen worker`, `dyngen warm`).

What startup made (modules, the app, pools, schemas: ~200k objects) lives as long as the process: frozen, out
of the collector's sight, a full collection no longer walks it (issue 18: at c=32 the full collections cost a
cache miss ~1 ms of CPU on average). A miss leaves ~150 tracked objects behind (most freed by reference
counting), so at the default threshold of 700 the young generation was collected every ~5 misses: ~0.13 ms of
CPU per miss at c=32, ~0.02 ms at `SERVING_GC_THRESHOLDS`. Memory stays bounded: RSS after 20k misses at c=32
was the same as with the defaults (~212 MB, flat from ~15k on: the memos filling, not garbage).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

SERVING_GC_THRESHOLDS = (10_000, 10, 10)
"""The collector's thresholds while a process serves or generates (set after startup's objects are frozen)."""


@contextmanager
def long_running() -> Iterator[None]:
    """Freeze what exists now and collect young objects less often, until the block ends; then the process
    gets its own settings back (a test that serves again leaves nothing uncollectable)."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
