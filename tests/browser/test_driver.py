"""The browser driver (driver.mjs, driver.py) that runs every scenario of a session on one chromium: each
scenario still starts in browser contexts of its own; a chromium that dies is launched again for the next
scenario; a driver that exits or never answers fails the scenario it was running, with what it had logged,
and the next scenario gets a fresh driver (those two on a stand-in driver: no chromium needed)."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.driver import ScenarioDriver
from tests.support.procfs import children
from tests.support.waiting import HANG_GUARD_S, wait_until

pytestmark = pytest.mark.browser

# A stand-in for driver.mjs speaking its JSON lines; what it does with a request is the request's "do".
STAND_IN = """
import json, sys, threading
for line in sys.stdin:
    request = json.loads(line)
    do = request["args"]["do"]
    print(json.dumps({"id": request["id"], "log": do + ": started"}), flush=True)
    if do == "exit":
        print("the stand-in exits", file=sys.stderr, flush=True)
        sys.exit(3)
    if do == "hang":
        threading.Event().wait()  # takes the request and never answers
    print(json.dumps({"id": request["id"], "ok": True}), flush=True)
    if do == "answer_then_exit":
        sys.exit(4)
"""


def _state(pid: int) -> str | None:
    """The process's state letter (Z once it has exited and waits to be reaped), None when it is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return None


def _chromiums(driver_pid: int) -> set[int]:
    """The driver's chromium processes still running."""
    return {pid for pid, name in children(driver_pid) if name == "chromium"}


def _isolation(driver: ScenarioDriver, base: str) -> dict[str, dict[str, object]]:
    done = driver.run("isolation_scenario.mjs", {"base": base}, deadline_s=HANG_GUARD_S)
    assert done.ok, done.output
    report: dict[str, dict[str, object]] = json.loads(done.logged[-1])
    return report


def test_every_scenario_starts_in_a_context_of_its_own_on_the_shared_chromium(
    browser_driver: ScenarioDriver, editor_server: str
) -> None:
    first = _isolation(browser_driver, editor_server)
    assert browser_driver.pid is not None
    shared = _chromiums(browser_driver.pid)
    second = _isolation(browser_driver, editor_server)

    assert first["left"] == {"storage": {"left": "behind"}, "cookies": "left=behind"}, first
    assert first["found"] == second["found"] == {"storage": {}, "cookies": ""}, (first, second)
    assert shared, "the driver runs chromium"
    assert _chromiums(browser_driver.pid) == shared, "both ran on the same chromium"


def test_a_chromium_that_died_is_launched_again_for_the_next_scenario(
    browser_driver: ScenarioDriver, editor_server: str
) -> None:
    _isolation(browser_driver, editor_server)
    driver_pid = browser_driver.pid
    assert driver_pid is not None
    killed = _chromiums(driver_pid)
    assert killed, "the driver runs chromium"
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _chromiums(driver_pid), what="the killed chromium to exit")

    after = _isolation(browser_driver, editor_server)

    assert after["found"] == {"storage": {}, "cookies": ""}, after
    assert browser_driver.pid == driver_pid, "the same driver went on"
    assert _chromiums(driver_pid) - killed, "with a chromium launched again"


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[ScenarioDriver]:
    driver = ScenarioDriver([sys.executable, "-c", STAND_IN], cwd=tmp_path, log=tmp_path / "driver.log")
    try:
        yield driver
    finally:
        driver.close()


def test_a_driver_that_exits_during_a_scenario_fails_it_with_its_output_and_a_fresh_one_runs_the_next(
    stand_in: ScenarioDriver,
) -> None:
    failed = stand_in.run("any.mjs", {"do": "exit"}, deadline_s=HANG_GUARD_S)
    gone = stand_in.pid

    assert not failed.ok
    assert failed.logged == ["exit: started"]
    assert "exited with code 3 during the scenario" in failed.output, failed.output
    assert "the stand-in exits" in failed.output, "the driver's stderr is reported"
    assert gone is None, "the dead driver is dropped"

    after = stand_in.run("any.mjs", {"do": "answer"}, deadline_s=HANG_GUARD_S)
    assert after.ok, after.output
    assert after.logged == ["answer: started"]


def test_a_driver_that_never_answers_is_stopped_at_the_hang_guard_and_a_fresh_one_runs_the_next(
    stand_in: ScenarioDriver,
) -> None:
    assert stand_in.run("any.mjs", {"do": "answer"}, deadline_s=HANG_GUARD_S).ok
    hung = stand_in.pid
    assert hung is not None

    failed = stand_in.run("any.mjs", {"do": "hang"}, deadline_s=2)

    assert not failed.ok
    assert "did not answer within the 2 s hang guard" in failed.output, failed.output
    assert _state(hung) is None, "the hung driver was stopped and reaped"
    after = stand_in.run("any.mjs", {"do": "answer"}, deadline_s=HANG_GUARD_S)
    assert after.ok, after.output
    assert stand_in.pid not in (None, hung)


def test_a_driver_that_exited_between_scenarios_is_replaced_for_the_next(stand_in: ScenarioDriver) -> None:
    assert stand_in.run("any.mjs", {"do": "answer_then_exit"}, deadline_s=HANG_GUARD_S).ok
    exited = stand_in.pid
    assert exited is not None
    wait_until(lambda: _state(exited) in (None, "Z"), what="the stand-in to exit")

    after = stand_in.run("any.mjs", {"do": "answer"}, deadline_s=HANG_GUARD_S)

    assert after.ok, after.output
    assert "had exited with code 4 since the last scenario" in after.output, after.output
    assert stand_in.pid not in (None, exited)
