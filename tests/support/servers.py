"""Real services for tests: the machine's Redis and PostgreSQL, and servers a test starts itself
(an S3-protocol server from moto, a private redis-server it can stop and restart, dyngen processes)."""

from __future__ import annotations

import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

import httpx

from tests.support.cli_zygote import ZYGOTE, Child
from tests.support.waiting import wait_until

VENV_BIN = Path(sys.executable).parent


# Ports for the servers tests start come from below Linux's ephemeral range (32768-60999, where outgoing
# connections take theirs), in a block of this test process's own: under `pytest -n` (xdist) each worker
# has another block, so two workers never hand out the same port and a health check never reaches the
# server of another worker's test.
_PORT_BLOCK = 1400
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_FIRST_PORT = 20000 + (int(_WORKER[2:]) % 8 if _WORKER[2:].isdigit() else 8) * _PORT_BLOCK
_next_port = itertools.count(random.randrange(_PORT_BLOCK))


def free_port() -> int:
    """A port nothing listens on, from this process's block (see above), handed out in turn."""
    for _ in range(_PORT_BLOCK):
        port = _FIRST_PORT + next(_next_port) % _PORT_BLOCK
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {_FIRST_PORT}-{_FIRST_PORT + _PORT_BLOCK - 1}")


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


def answers(http: httpx.Client, path: str) -> bool:
    """True once GET `path` answers 200 (a server still starting refuses the connection)."""
    try:
        return http.get(path).status_code == 200
    except httpx.TransportError:
        return False


class Process:
    """A child process the test owns; stopped (and reaped) by `stop` or `kill`."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None, log: Path | None = None) -> None:
        self.args = args
        self.log = log
        full_env = {**os.environ, **(env or {})}
        self._out: IO[bytes] | int = subprocess.DEVNULL
        self.proc: subprocess.Popen[bytes] | Child
        one_process = "--workers" not in args or args[args.index("--workers") + 1] == "1"
        if args[0] == str(VENV_BIN / "dyngen") and one_process:
            # Forked from the zygote that imported dyngen once (tests/support/cli_zygote.py).
            self.proc = ZYGOTE.spawn(args[1:], cwd=Path.cwd(), env=full_env, stdout=log or Path(os.devnull))
        else:
            self._out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in stop()
            self.proc = subprocess.Popen(args, env=full_env, stdout=self._out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_log()

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(5)
        self._close_log()

    def _close_log(self) -> None:
        if not isinstance(self._out, int) and not self._out.closed:
            self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""


class RedisServer:
    """A private redis-server on a free port, which a test may stop and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server")
        self.process = Process(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            log=self.workdir / f"redis-{self.port}.log",
        )
        wait_until(lambda: port_open("127.0.0.1", self.port), what=f"redis-server on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None
        wait_until(lambda: not port_open("127.0.0.1", self.port), what="redis-server to stop")


class MotoS3Server:
    """moto's standalone S3-protocol server on loopback."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: Process | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = Process(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            log=self.workdir / f"moto-{self.port}.log",
            env={"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
        )
        wait_until(lambda: http_ok(f"{self.endpoint}/moto-api/"), what="moto S3 server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def dyngen_server(workdir: Path, env: dict[str, str], *, workers: int = 1, name: str = "dyngen") -> tuple[Process, str]:
    """Start `dyngen serve` as a user would and wait for /api/health; returns the process and base URL."""
    port = free_port()
    proc = Process(
        [str(VENV_BIN / "dyngen"), "serve", "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
        env=env,
        log=workdir / f"{name}-{port}.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # A process that exits ends the wait at once (its log says why), instead of at the hang guard.
        wait_until(lambda: not proc.alive() or http_ok(f"{base}/api/health"), what=f"{name} on {port}")
        if not proc.alive():
            raise AssertionError(f"{name} exited")
    except AssertionError:
        proc.stop()
        raise AssertionError(f"{name} did not start:\n{proc.output()[-3000:]}") from None
    return proc, base
