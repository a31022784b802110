"""How fast this machine runs Python right now, to read the run's absolute figures by (informational).

Several goals are absolute (server CPU per miss or per hit, a rate against an ideal that only CPU keeps a
process from): the same code meets them on one shared 2-core machine and misses them on a slower one. This
times a fixed pure-Python workload (10 million additions in a loop, the interpreter's own speed), three
times, and reports the median with the processor's name; the report's chart puts it beside the previous
run's, so that a run on a slower machine is seen as such, not taken for a regression.
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

from bench import Row
from dyngen.bootstrap_providers import usable_cpus

ADDITIONS = 10_000_000
REPEATS = 3


def reference_loop() -> float:
    """Seconds of CPU for `ADDITIONS` additions in a Python loop."""
    began = time.process_time()
    total = 0
    for i in range(ADDITIONS):
        total += i
    assert total == ADDITIONS * (ADDITIONS - 1) // 2
    return time.process_time() - began


def processor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run() -> list[Row]:
    seconds = statistics.median(reference_loop() for _ in range(REPEATS))
    cpus = usable_cpus()
    print(
        f"  {processor()}, {cpus} CPUs; {ADDITIONS:,} additions in a Python loop:"
        f" {seconds * 1000:.0f} ms of CPU (median of {REPEATS})"
    )
    return [
        Row(
            "machine",
            f"pure-Python reference loop ({ADDITIONS // 1_000_000}M additions), CPU",
            f"{seconds * 1000:.0f} ms",
        )
    ]
