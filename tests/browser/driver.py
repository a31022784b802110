"""The browser scenarios' runner: one `node driver.mjs` process for a pytest session (or xdist worker), which
keeps chromium running between scenarios and gives each its own browser contexts, spoken to in JSON lines
(see driver.mjs). Every wait on it has a deadline that only guards against a hang: a driver that exits or
stops answering fails the scenario it was running, with what the scenario had logged and the driver's
stderr, and is replaced by a fresh one for the next scenario."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.support.procfs import children

STDERR_TAIL = 3000  # characters of the driver's stderr a failure shows


@dataclass(frozen=True)
class Outcome:
    ok: bool
    logged: list[str]  # the lines the scenario logged
    output: str  # those lines, what went wrong with the driver, and what it printed on stderr meanwhile


class _Running:
    """One driver process and the lines of its stdout, read by a thread of their own."""

    def __init__(self, command: list[str], *, cwd: Path, log: Path) -> None:
        with log.open("ab") as stderr:
            # A session of its own: stopping it stops the whole process group.
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
            )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.stdin: IO[str] = self.process.stdin
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stdout: IO[str]) -> None:
        with stdout:
            for line in stdout:
                self.lines.put(line)
        self.lines.put(None)  # end of output: the process has exited (or closed its stdout)

    def stop(self, *, grace_s: float) -> None:
        """Close its stdin (the driver closes chromium and exits), killed when it has not within `grace_s`."""
        with contextlib.suppress(OSError):
            self.stdin.close()
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        # chromium leads a process group of its own (playwright starts it detached); it exits when the
        # driver's pipe to it closes, unless it is the part that hangs: its group is killed too.
        groups = [self.process.pid]
        for pid, _ in children(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(pid) == pid:
                    groups.append(pid)
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.stdin.close()
        self.process.wait(30)


class ScenarioDriver:
    """Runs scenarios on a driver process started on first use (`command`, e.g. node driver.mjs), one at a
    time; its stderr is appended to `log`."""

    def __init__(self, command: list[str], *, cwd: Path, log: Path) -> None:
        self.command = command
        self.cwd = cwd
        self.log = log
        self._running: _Running | None = None
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        """The running driver's process id (None before the first scenario, or after one failed it)."""
        return self._running.process.pid if self._running is not None else None

    def run(self, script: str, args: dict[str, str], *, deadline_s: float) -> Outcome:
        """Run `script`'s scenario with `args`; `deadline_s` only guards against a hang (then the driver is
        stopped, and the next scenario gets a fresh one)."""
        notes: list[str] = []
        if self._running is not None and self._running.process.poll() is not None:
            code = self._running.process.returncode
            notes.append(
                f"(the browser driver had exited with code {code} since the last scenario: a fresh one runs it)"
            )
            self._running.kill()
            self._running = None
        if self._running is None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            self._running = _Running(self.command, cwd=self.cwd, log=self.log)
        running = self._running
        request_id = next(self._ids)
        stderr_from = self.log.stat().st_size
        lines: list[str] = []
        try:
            ok, failure = self._exchange(running, request_id, script, args, deadline_s, lines)
        except BaseException:
            # pytest-timeout or ^C in the middle of a scenario: the driver is still in it; the next gets a new one.
            self._forget(running)
            raise
        if failure is not None:
            self._forget(running)
        output = "\n".join([*notes, *lines, *([failure] if failure else [])])
        stderr = self._stderr_since(stderr_from)
        if stderr:
            output += f"\n--- the browser driver's stderr meanwhile ({self.log}):\n{stderr}"
        return Outcome(ok=ok, logged=lines, output=output)

    def _exchange(
        self, running: _Running, request_id: int, script: str, args: dict[str, str], deadline_s: float, lines: list[str]
    ) -> tuple[bool, str | None]:
        """Send the request and gather what the scenario logs into `lines`: whether it held, and what went wrong
        with the driver (None when it answered)."""
        try:
            running.stdin.write(json.dumps({"id": request_id, "script": script, "args": args}) + "\n")
            running.stdin.flush()
        except OSError as error:
            return False, f"the browser driver took no request ({error}); the next scenario starts a fresh one"
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                line = running.lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                return False, (
                    f"the browser driver did not answer within the {deadline_s:.0f} s hang guard: it was stopped,"
                    " the next scenario starts a fresh one"
                )
            if line is None:
                code = running.process.wait(30)
                return False, (
                    f"the browser driver exited with code {code} during the scenario; the next scenario starts a"
                    " fresh one"
                )
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                message = None
            if not isinstance(message, dict):
                lines.append(line.rstrip("\n"))  # not an answer (the driver prints those on stderr): kept as said
                continue
            if message.get("id") != request_id:
                continue  # not this request's: none can be pending, as a driver left in a request is stopped
            if "log" in message:
                lines.append(str(message["log"]))
            elif "ok" in message:
                return message["ok"] is True, None

    def _forget(self, running: _Running) -> None:
        running.kill()
        if self._running is running:
            self._running = None

    def _stderr_since(self, offset: int) -> str:
        try:
            with self.log.open("rb") as log:
                log.seek(offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return text[-STDERR_TAIL:].strip()

    def close(self) -> None:
        """End the session: the driver closes its chromium and exits (killed if it does not within a minute)."""
        if self._running is not None:
            self._running.stop(grace_s=60)
            self._running = None
