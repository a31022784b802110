"""`dyngen` processes (commands, servers, workers) without paying for Python importing dyngen each time.

A user's `dyngen generate` or `dyngen serve` is a new process: it imports dyngen (1.5-2 s of CPU on this
2-core machine: pydantic models, SQLAlchemy, FastAPI, the providers' stacks), then runs. The suite starts
a few hundred of them, so that import alone was minutes. Here one zygote process per test process imports
dyngen once, then forks a child per process asked for. The child is a process of its own, as a user's
is: its own pid, working directory, environment (replaced, not merged), standard streams, signals and
exit status; nothing one does reaches the next. It runs the same `app()` the `dyngen` console script
runs.

What a fork cannot give is a new interpreter: the children share the zygote's hash seed and whatever
dyngen computes at import. A test about exactly that (the same key across processes, nothing read from the
working directory) runs the real `dyngen` executable instead (`Workdir.run(..., fresh=True)`), and so does
`dyngen serve --workers N` (uvicorn's workers are spawned interpreters that re-run the main script). The
zygote imports from an empty folder of its own, so an import that looked in the working directory would
find nothing there either.

Protocol (lines of JSON): the test process writes {"id", "args", "cwd", "env", "stdout", "stderr"} (file
paths for the child's output; the same path twice appends both streams to one file) to the zygote's
stdin; the zygote answers {"id", "pid"} once it forked, and {"pid", "returncode"} when that child exits.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import itertools
import json
import os
import pkgutil
import select
import signal
import subprocess
import sys
import tempfile
import threading
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _redirect(request: dict[str, object]) -> None:
    stdout, stderr = str(request["stdout"]), str(request["stderr"])
    null = os.open(os.devnull, os.O_RDONLY)
    if stdout == stderr:  # one log for both streams, appended to (as `Process` does with a file)
        out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        err = os.dup(out)
    else:
        out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for fd, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
        os.close(fd)


def _child(request: dict[str, object]) -> None:
    """In the forked child: become the process asked for, run `dyngen`, never return."""
    code = 1
    try:
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
        _redirect(request)
        # What a new interpreter would take from PYTHONPATH (a test's plugin folder, say) goes first.
        wanted = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
        sys.path[:0] = [entry for entry in wanted if entry not in sys.path]
        importlib.invalidate_caches()
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's own stream
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.argv = ["dyngen", *map(str, request["args"])]  # type: ignore[call-overload]
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the handlers a new interpreter starts with
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _metrics_chosen_in_the_child()
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


# What `dyngen` processes import on their way, beyond the CLI: the API app, the worker, every adapter of
# the embedded and the scaled deployment (S3's aiobotocore, asyncpg, arq), uvicorn's server parts. Each
# child imported them itself before (about 1,000 modules, ~2 s of CPU a process).
PRELOAD = (
    "dyngen.entrypoints.cli",
    "dyngen.entrypoints.api.app",
    "dyngen.entrypoints.worker",
    "dyngen.adapters.storage.s3",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.lifespan.on",
)


def _preload() -> None:
    for ep in entry_points(group="dyngen.providers"):
        with contextlib.suppress(ImportError):  # the child reports it as a real process would
            ep.load()
    for module in PRELOAD:
        importlib.import_module(module)
    for info in pkgutil.walk_packages(importlib.import_module("dyngen.adapters").__path__, "dyngen.adapters."):
        importlib.import_module(info.name)
    gc.collect()
    gc.freeze()  # what every child shares stays out of each child's collections (and its pages unwritten)


def _metrics_chosen_in_the_child() -> None:
    """prometheus_client picks its value class (in memory, or files shared by processes) once, at its
    import, from PROMETHEUS_MULTIPROC_DIR, which `dyngen serve` and `dyngen worker` set just before. The
    zygote imported it without; a child picks at its first metric instead, as its own import would have."""
    from prometheus_client import values

    class AtFirstMetric:
        def __call__(self, *args: object, **kwargs: object) -> object:
            values.ValueClass = values.get_value_class()
            return values.ValueClass(*args, **kwargs)

    values.ValueClass = AtFirstMetric()


def serve() -> None:
    """The zygote: import dyngen, every provider plugin and what its processes import, then fork a child
    per request and report each child's exit. It ends when the test process closes its stdin (children
    still running go on)."""
    _preload()
    protocol_in, protocol_out = sys.stdin.fileno(), sys.stdout.buffer
    pending = b""

    def report(message: dict[str, object]) -> None:
        protocol_out.write(json.dumps(message).encode() + b"\n")
        protocol_out.flush()

    while True:
        readable, _, _ = select.select([protocol_in], [], [], 0.02)
        if readable:
            chunk = os.read(protocol_in, 1 << 16)
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(request)
                report({"id": request["id"], "pid": pid})
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            report({"pid": pid, "returncode": os.waitstatus_to_exitcode(status)})


class Child:
    """A process the zygote forked, with the part of `subprocess.Popen`'s interface tests use."""

    def __init__(self, zygote: Zygote, pid: int, args: list[str]) -> None:
        self._zygote = zygote
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.exit_of(self.pid, timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._zygote.exit_of(self.pid, timeout=timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The test process's side: one zygote, started on first use and stopped when the tests end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # starting the zygote and writing to it
        self._answers = threading.Condition()
        self._pids: dict[int, int] = {}  # request id -> pid
        self._exits: dict[int, int] = {}  # pid -> exit status
        self._ids = itertools.count()
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
                # This checkout's own source first: the editable install may point at another (a worktree's
                # bench run would otherwise serve the main checkout's code).
                env={**inherited, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])},
            )
            threading.Thread(target=self._read, args=(self._proc,), name="dyngen-zygote", daemon=True).start()
        return self._proc

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            answer = json.loads(line)
            with self._answers:
                if "id" in answer:
                    self._pids[answer["id"]] = answer["pid"]
                else:
                    self._exits[answer["pid"]] = answer["returncode"]
                self._answers.notify_all()
        with self._answers:
            self._answers.notify_all()  # the zygote is gone: whoever waits finds out

    def spawn(
        self, args: list[str], *, cwd: Path, env: dict[str, str], stdout: Path, stderr: Path | None = None
    ) -> Child:
        """Starts `dyngen *args` in a forked child (`stderr` None: both streams appended to `stdout`)."""
        request_id = next(self._ids)
        request = {
            "id": request_id,
            "args": args,
            "cwd": str(cwd),
            "env": env,
            "stdout": str(stdout),
            "stderr": str(stderr or stdout),
        }
        with self._lock:
            proc = self._started()
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
        with self._answers:
            self._answers.wait_for(lambda: request_id in self._pids or proc.poll() is not None)
            if request_id not in self._pids:
                raise RuntimeError(f"the dyngen zygote exited with {proc.wait()}")
            return Child(self, self._pids.pop(request_id), ["dyngen", *args])

    def _running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exit_of(self, pid: int, *, timeout: float | None) -> int | None:
        """The exit status of child `pid`, waiting up to `timeout` seconds for it (None: still running)."""
        with self._answers:
            self._answers.wait_for(lambda: pid in self._exits or not self._running(), timeout=timeout)
            return self._exits.get(pid)

    def run(
        self, args: list[str], *, cwd: Path, env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Runs `dyngen *args` in a forked child; raises `subprocess.TimeoutExpired` past `timeout`."""
        with tempfile.TemporaryDirectory(prefix="dyngen-cli-") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            child = self.spawn(args, cwd=cwd, env=env, stdout=out, stderr=err)
            try:
                returncode: int | None = child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)
                returncode = None
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


def run_dyngen(
    args: list[str], *, env: dict[str, str], cwd: Path | None = None, timeout: float = 60.0, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run([dyngen, *args], capture_output=True, text=True, ...)`, forked from the zygote."""
    done = ZYGOTE.run(args, cwd=cwd or Path.cwd(), env=env, timeout=timeout)
    if check and done.returncode:
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    return done


if __name__ == "__main__":
    serve()
