"""A provider plugin that costs money, for tests that run `dyngen serve` processes: installed the way a
third-party provider is (an entry point in the `dyngen.providers` group), from a folder the test puts on
PYTHONPATH (see `install_costly_provider`).

Every call estimates and costs 0.01 (FakeProvider's price), takes DYNGEN_TEST_COSTLY_LATENCY_S seconds
and appends a line (`<pid> <node_id>`) to DYNGEN_TEST_COSTLY_LOG, so a test counts the calls of every process.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from dyngen.ports import ProviderCall, ProviderResult
from tests.fakes import FakeProvider

ROOT = Path(__file__).resolve().parents[2]


class CostlyProvider(FakeProvider):
    def __init__(self) -> None:
        super().__init__(name="costly", latency_s=float(os.environ.get("DYNGEN_TEST_COSTLY_LATENCY_S", "0.2")))

    async def generate(self, call: ProviderCall) -> ProviderResult:
        result = await super().generate(call)
        log = os.environ.get("DYNGEN_TEST_COSTLY_LOG")
        if log:
            await asyncio.to_thread(_append, Path(log), f"{os.getpid()} {call.request.node_id}\n")
        return result


def _append(log: Path, line: str) -> None:
    with log.open("a", encoding="utf-8") as calls:  # one short O_APPEND write per call
        calls.write(line)


def install_costly_provider(folder: Path) -> dict[str, str]:
    """Register `costly` as an entry point in `folder`; returns the environment that makes a `dyngen`
    process see it (and import this module)."""
    info = folder / "dyngen_test_costly-0.0.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dyngen-test-costly\nVersion: 0.0.0\n")
    (info / "entry_points.txt").write_text(
        "[dyngen.providers]\ncostly = tests.support.costly_provider:CostlyProvider\n"
    )
    path = os.pathsep.join(p for p in (str(folder), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}
