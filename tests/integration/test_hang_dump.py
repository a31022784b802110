"""`tests.support.procfs.run_or_dump`: a child process that outlives its hang guard fails the test with every
thread's stack, so that a hang seen once on a busy machine can be read, not only counted."""

from __future__ import annotations

import os
import sys

import pytest

from tests.support.procfs import run_or_dump

HANGS = """
import threading

def held_in_a_worker_thread(lock):
    lock.acquire()

lock = threading.Lock()
lock.acquire()
threading.Thread(target=held_in_a_worker_thread, args=(lock,), name="worker").start()
held_in_a_worker_thread(lock)
"""


def test_a_process_that_hangs_fails_with_the_stack_of_each_thread() -> None:
    # The guard leaves the child time to start and reach its hang on a busy machine (it starts in ~50 ms).
    with pytest.raises(AssertionError) as failure:
        run_or_dump([sys.executable, "-c", HANGS], env=dict(os.environ), timeout_s=3)
    message = str(failure.value)
    assert "hang guard" in message
    assert message.count("held_in_a_worker_thread") >= 2, "the main thread's and the worker's frames"


def test_a_process_that_ends_gives_its_output_and_status() -> None:
    ends = [sys.executable, "-c", "import sys; print('out'); sys.exit(3)"]
    done = run_or_dump(ends, env=dict(os.environ), timeout_s=60)
    assert (done.returncode, done.stdout) == (3, "out\n")
