"""Processes as Linux's /proc lists them: which children a process has (a browser, an encoder); and a
child process run under a hang guard that shows where it hung."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any


def children(pid: int, *, exited: bool = False) -> list[tuple[int, str]]:
    """The processes whose parent is `pid`, their ids and names; with `exited`, also those that exited and
    wait to be reaped (zombies)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it has gone since the listing
        name, _, rest = stat.partition(" (")[2].rpartition(")")
        state, parent = rest.split()[:2]
        if int(parent) == pid and (exited or state != "Z"):
            found.append((int(entry.name), name))
    return found


def run_or_dump(args: list[str], *, timeout_s: float, env: dict[str, str], **kwargs: Any) -> CompletedProcess[str]:
    """`subprocess.run(args)` with text output captured; a Python process still running after `timeout_s`
    (a hang guard) is sent SIGABRT with faulthandler on, so the failure shows every thread's stack (where
    it hung) instead of only that it did."""
    with subprocess.Popen(
        args,
        env={**env, "PYTHONFAULTHANDLER": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler writes each thread's traceback to stderr
            try:
                stdout, stderr = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
            raise AssertionError(
                f"{' '.join(args[:3])} still ran after the {timeout_s:.0f} s hang guard; its threads:\n{stderr}"
            ) from None
    return CompletedProcess(args, proc.returncode, stdout, stderr)
