"""Where a `make test` run's wall time goes, per test process: an opt-in pytest plugin and its report.

    DYNGEN_TEST_TIMELINE=/tmp/timeline.jsonl make test PYTEST_ADDOPTS="-p tests.support.timeline"
    .venv/bin/python -m tests.support.timeline /tmp/timeline.jsonl

Each process (the xdist controller and every worker) appends JSON lines to the file: when it was
configured, when its collection finished, each test file it ran (start and end) and when it finished. The
report prints how long the start took (import and collection), each worker's first and last test, the time
each folder took and the longest files, so an uneven end or a slow start shows as figures.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "controller")
_current: dict[str, Any] = {"file": None, "start": 0.0}


def _emit(**record: Any) -> None:
    if out := os.environ.get("DYNGEN_TEST_TIMELINE"):
        with open(out, "a", encoding="utf-8") as file:
            file.write(json.dumps({"worker": _WORKER, **record}) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    _emit(event="configured", at=time.time())


def pytest_collection_finish(session: pytest.Session) -> None:
    _emit(event="collected", at=time.time())


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    if _WORKER == "controller":
        return  # the controller hears of every worker's tests: only the workers say what they ran
    path = nodeid.split("::", maxsplit=1)[0]
    if path != _current["file"]:
        now = time.time()
        if _current["file"] is not None:
            _emit(event="file", path=_current["file"], start=_current["start"], end=now)
        _current.update(file=path, start=now)


def pytest_sessionfinish(session: pytest.Session) -> None:
    now = time.time()
    if _current["file"] is not None:
        _emit(event="file", path=_current["file"], start=_current["start"], end=now)
    _emit(event="finished", at=now)


def report(lines: list[dict[str, Any]]) -> str:
    """The figures of one run's timeline, seconds from the controller's start."""
    t0 = min(line.get("at", line.get("start", 0.0)) for line in lines)
    out = []
    for line in lines:
        if line["event"] != "file":
            out.append(f"{line['at'] - t0:7.1f} s  {line['worker']} {line['event']}")
    files = [line for line in lines if line["event"] == "file"]
    by_worker: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for line in files:
        by_worker[line["worker"]].append(line)
    for worker, ran in sorted(by_worker.items()):
        busy = sum(line["end"] - line["start"] for line in ran)
        first, last = min(line["start"] for line in ran) - t0, max(line["end"] for line in ran) - t0
        out.append(f"{worker}: first test at {first:.1f} s, last ended at {last:.1f} s, in test files {busy:.1f} s")
    folders: collections.Counter[str] = collections.Counter()
    for line in files:
        folders[Path(line["path"]).parent.name] += line["end"] - line["start"]
    out.append("by folder: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in folders.most_common()))
    out.append("longest files:")
    for line in sorted(files, key=lambda line: line["start"] - line["end"])[:20]:
        took, began = line["end"] - line["start"], line["start"] - t0
        out.append(f"  {took:6.1f} s  at {began:6.1f} s  {line['worker']}  {line['path']}")
    return "\n".join(out)


if __name__ == "__main__":
    print(report([json.loads(row) for row in Path(sys.argv[1]).read_text(encoding="utf-8").splitlines() if row]))
