"""`dyngen` commands in processes of their own, without paying for Python importing dyngen each time.

A user's `dyngen generate` is a new process: it imports dyngen (about a second of CPU on this 2-core
machine: pydantic models, SQLAlchemy, the providers' stacks), then runs the command. The CLI tests run
over a hundred commands, so that import alone was minutes of the suite. Here one zygote process per test
process imports dyngen once, then forks a child per command. The child is a process of its own, as a
user's is: its own working directory, environment (replaced, not merged), standard streams, exit status
and state; nothing one command does reaches the next. It runs the same `app()` the `dyngen` console
script runs.

What a fork cannot give is a new interpreter: the children share the zygote's hash seed and whatever
dyngen computes at import. A test about exactly that (the same key across processes, nothing read from the
working directory) runs the real `dyngen` executable instead (`Workdir.run(..., fresh=True)`). The zygote
imports from an empty folder of its own, so an import that looked in the working directory would find
nothing there either.

Protocol (one command at a time, lines of JSON): the test process writes {"args", "cwd", "env", "stdout",
"stderr", "timeout"} (file paths for the child's output) to the zygote's stdin; the zygote answers
{"returncode"} (None when the command outlived its timeout and was killed).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _child(request: dict[str, object]) -> None:
    """In the forked child: become the command's process, run `dyngen`, never return."""
    code = 1
    try:
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(str(request["stdout"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(str(request["stderr"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, target in ((null, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's own stream
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.argv = ["dyngen", *map(str, request["args"])]  # type: ignore[call-overload]
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from dyngen.entrypoints.cli import app

        try:
            app()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            if not isinstance(done.code, int | None):
                print(done.code, file=sys.stderr)
    except BaseException:  # what an uncaught exception does to a real process: a traceback, exit 1
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        import atexit as exiting  # what the interpreter does on its way out: logging, executors, ...

        exiting._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # the process ends either way
                stream.flush()
        os._exit(code)


def _wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.002)


def serve() -> None:
    """The zygote: import dyngen and every provider plugin once, then fork a child per request."""

    for ep in entry_points(group="dyngen.providers"):
        with contextlib.suppress(ImportError):  # the child reports it as a real process would
            ep.load()
    protocol_in, protocol_out = sys.stdin.buffer, sys.stdout.buffer
    for line in protocol_in:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        returncode = _wait(pid, float(request["timeout"]))
        protocol_out.write(json.dumps({"returncode": returncode}).encode() + b"\n")
        protocol_out.flush()


class Zygote:
    """The test process's side: one zygote, started on first use and stopped when the tests end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._home = tempfile.mkdtemp(prefix="dyngen-zygote-")
        atexit.register(self.stop)

    def _started(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            inherited = {k: v for k, v in os.environ.items() if not k.startswith("DYNGEN_")}
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.cli_zygote"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=self._home,
                env={**inherited, "PYTHONPATH": str(ROOT)},
            )
        return self._proc

    def run(
        self, args: list[str], *, cwd: Path, env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Runs `dyngen *args` in a forked child; raises `subprocess.TimeoutExpired` past `timeout`."""
        with self._lock, tempfile.TemporaryDirectory(prefix="dyngen-cli-") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            proc = self._started()
            assert proc.stdin is not None
            assert proc.stdout is not None
            request = {"args": args, "cwd": str(cwd), "env": env, "stdout": str(out), "stderr": str(err)}
            proc.stdin.write(json.dumps({**request, "timeout": timeout}).encode() + b"\n")
            proc.stdin.flush()
            answer = proc.stdout.readline()
            if not answer:
                raise RuntimeError(f"the dyngen zygote exited with {proc.wait()}")
            returncode = json.loads(answer)["returncode"]
            stdout = out.read_text(encoding="utf-8") if out.exists() else ""
            stderr = err.read_text(encoding="utf-8", errors="replace") if err.exists() else ""
            if returncode is None:
                raise subprocess.TimeoutExpired(["dyngen", *args], timeout, stdout, stderr)
            return subprocess.CompletedProcess(["dyngen", *args], returncode, stdout, stderr)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


ZYGOTE = Zygote()

if __name__ == "__main__":
    serve()
