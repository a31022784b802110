"""A low-overhead HTTP/1.1 load generator, run as its own process (`python -m bench.loadgen`).

It reads a JSON plan on stdin and writes JSON results on stdout. Each phase keeps N keep-alive
connections busy with the same POST until its time is up: closed loop, one request in flight per
connection, the next one sent from inside `data_received` the moment a response is complete. There are
no coroutines or stream readers on the hot path, just a `asyncio.Protocol` that finds the end of the
headers, reads `Content-Length` and waits for that many body bytes. That keeps the client's cost per
request a small fraction of the server's, so the figures measure the server; each phase reports the
client's own CPU use so that can be checked (and the server's, when its pid is given).

With `vary` set, each request is a new one: every occurrence of that placeholder in the body is replaced
by a number unique to the request (a cache miss per request for the miss benchmark). A phase may send
`bodies` in turn instead (or the plan's `bodies[name]` by `bodies_ref`, one list for many phases), and
may go to another server (`port`, `server_pid`): a baseline served by a process of its own.

Every response is checked: its status is counted and its body must contain the phase's `marker`
(the bench uses `"hit":true` to prove every generate-content response was a cache hit).

Plan::

    {"host": "127.0.0.1", "port": 8000, "server_pid": 123,
     "phases": [{"label": "hit r1", "path": "/api/generate-content", "body": "{...}",
                 "connections": 16, "duration_s": 3.0, "marker": "\\"hit\\":true"}, ...]}
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, cast

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"
# What makes a varied body unique: this process's run, then a number per request.
_RUN = f"{os.getpid()}-{time.time_ns()}"
_NUMBERS = itertools.count(1)


@dataclass(frozen=True, slots=True)
class PhasePlan:
    """One measurement phase: `connections` connections POSTing `body` to `path` for `duration_s`."""

    label: str
    path: str
    body: str
    connections: int
    duration_s: float
    marker: str = ""
    vary: str = ""  # a placeholder in `body` replaced by a number unique to each request
    bodies: list[str] | None = None  # sent in turn instead of `body` (other player contexts, same node)
    bodies_ref: str | None = None  # or the plan's `bodies[bodies_ref]`, one list shared by many phases
    port: int | None = None  # another server than the plan's (a baseline in a process of its own)
    server_pid: int | None = None  # that server's pid, for its CPU


@dataclass(slots=True)
class PhaseResult:
    """What one phase saw. Latencies are microseconds, in completion order."""

    label: str
    connections: int
    requests: int
    elapsed_s: float
    statuses: dict[str, int]
    marker_misses: int
    latencies_us: list[int]
    sample_body: str
    client_cpu_s: float  # CPU seconds the load generator used during the phase
    server_cpu_s: float | None  # CPU seconds the server used (all its threads), when its pid was given

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def client_cpu(self) -> float:
        """Share of one core the load generator used: well under 1 means it was not the bottleneck."""
        return self.client_cpu_s / self.elapsed_s

    @property
    def server_cpu(self) -> float | None:
        """Share of one core the server used: under 1 while saturated means it was short of CPU."""
        return None if self.server_cpu_s is None else self.server_cpu_s / self.elapsed_s

    @property
    def server_us_per_request(self) -> float | None:
        """Server CPU per response; barely moved by other load on the machine, unlike requests/s."""
        return None if self.server_cpu_s is None or not self.requests else self.server_cpu_s / self.requests * 1e6


def request_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    """The exact bytes of one keep-alive HTTP/1.1 POST with a JSON body."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "User-Agent: dyngen-bench\r\n"
        "Accept: application/json\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


@dataclass(slots=True)
class _Phase:
    request: bytes
    marker: bytes
    deadline_ns: int
    open_connections: int
    done: asyncio.Future[None]
    latencies_us: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    marker_misses: int = 0
    sample_body: bytes | None = None
    last_ns: int = 0
    # With a placeholder: the header with NUL where the length goes, the body with NUL where the number goes.
    varied: tuple[bytes, bytes] | None = None
    requests: list[bytes] | None = None  # sent in turn (`bodies`)
    sent: int = 0

    def next_request(self) -> bytes:
        if self.requests is not None:
            self.sent += 1
            return self.requests[self.sent % len(self.requests)]
        if self.varied is None:
            return self.request
        head, marked = self.varied
        body = marked.replace(b"\0", str(next(_NUMBERS)).encode())
        return head.replace(b"\0", str(len(body)).encode()) + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; sends the phase's request again as soon as a response completes."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.phase: _Phase | None = None
        self.sent_ns = 0
        self.header_len = 0
        self.total_len = -1  # header + body bytes of the response being read; -1 while headers are incomplete
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def fire(self) -> None:
        assert self.transport is not None
        assert self.phase is not None
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(self.phase.next_request())

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.total_len < 0:
            end = buffer.find(_HEADER_END)
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            self.status = int(head[9:12])
            at = head.find(_CONTENT_LENGTH)
            if at < 0:
                self._fail(RuntimeError(f"response without Content-Length: {head[:200]!r}"))
                return
            stop = head.find(b"\r\n", at + 2)
            self.header_len = end + len(_HEADER_END)
            self.total_len = self.header_len + int(head[at + len(_CONTENT_LENGTH) : stop if stop > 0 else None])
        if len(buffer) < self.total_len:
            return
        now = time.perf_counter_ns()
        body = bytes(buffer[self.header_len : self.total_len])
        del buffer[: self.total_len]
        self.total_len = -1
        phase = self.phase
        assert phase is not None
        phase.latencies_us.append((now - self.sent_ns) // 1000)
        phase.statuses[self.status] += 1
        if phase.marker not in body:
            phase.marker_misses += 1
        if phase.sample_body is None:
            phase.sample_body = body
        phase.last_ns = now
        if now < phase.deadline_ns:
            self.fire()
            return
        phase.open_connections -= 1
        if phase.open_connections == 0 and not phase.done.done():
            phase.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        unread = bytes(self.buffer[:300])
        self._fail(ConnectionError(f"server closed the connection ({exc!r}) after a {self.status}; unread {unread!r}"))

    def _fail(self, exc: Exception) -> None:
        if self.phase is not None and not self.phase.done.done():
            self.phase.done.set_exception(exc)


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of another process, from /proc (None where /proc is absent)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_plan(plan: dict[str, Any]) -> list[PhaseResult]:
    """Open the connections once per connection count and run every phase in order."""
    loop = asyncio.get_running_loop()
    host, port = str(plan["host"]), int(plan["port"])
    server_pid: int | None = plan.get("server_pid")
    shared: dict[str, list[str]] = plan.get("bodies", {})
    phases = [PhasePlan(**p) for p in plan["phases"]]
    phases = [replace(p, bodies=shared[p.bodies_ref]) if p.bodies_ref is not None else p for p in phases]
    pools: dict[tuple[int, int], list[_Connection]] = {}
    results: list[PhaseResult] = []
    try:
        for spec in phases:
            target = spec.port or port
            pool = pools.setdefault((target, spec.connections), [])
            # A server may close a connection left idle while other phases ran (its keep-alive timeout):
            # those are opened again, before the phase's clock starts.
            pool[:] = [c for c in pool if c.transport is not None and not c.transport.is_closing()]
            while len(pool) < spec.connections:
                _, protocol = await loop.create_connection(_Connection, host, target)
                pool.append(protocol)
            pid = spec.server_pid if spec.port else server_pid
            results.append(await _run_phase(loop, host, target, spec, pool, pid))
    finally:
        for pool in pools.values():
            for connection in pool:
                if connection.transport is not None:
                    connection.phase = None
                    connection.transport.close()
    return results


async def _run_phase(
    loop: asyncio.AbstractEventLoop,
    host: str,
    port: int,
    spec: PhasePlan,
    pool: list[_Connection],
    server_pid: int | None,
) -> PhaseResult:
    start_ns = time.perf_counter_ns()
    phase = _Phase(
        request=request_bytes(host, port, spec.path, spec.body.encode()),
        marker=spec.marker.encode(),
        deadline_ns=start_ns + int(spec.duration_s * 1e9),
        open_connections=len(pool),
        done=loop.create_future(),
    )
    if spec.bodies:
        phase.requests = [request_bytes(host, port, spec.path, b.encode()) for b in spec.bodies]
    if spec.vary:
        head = request_bytes(host, port, spec.path, b"").replace(b"Content-Length: 0", b"Content-Length: \0")
        phase.varied = (head, spec.body.replace(spec.vary, f"{_RUN}-\0").encode())
    server_cpu_before = _process_cpu_s(server_pid) if server_pid else None
    cpu_before = time.process_time()
    for connection in pool:
        connection.phase = phase
        connection.fire()
    await asyncio.wait_for(phase.done, timeout=spec.duration_s + 30)
    elapsed_s = (phase.last_ns - start_ns) / 1e9
    client_cpu_s = time.process_time() - cpu_before
    server_cpu_s: float | None = None
    if server_pid and server_cpu_before is not None:
        after = _process_cpu_s(server_pid)
        server_cpu_s = after - server_cpu_before if after is not None else None
    return PhaseResult(
        label=spec.label,
        connections=len(pool),
        requests=len(phase.latencies_us),
        elapsed_s=elapsed_s,
        statuses={str(k): v for k, v in sorted(phase.statuses.items())},
        marker_misses=phase.marker_misses,
        latencies_us=phase.latencies_us,
        sample_body=(phase.sample_body or b"").decode("utf-8", "replace"),
        client_cpu_s=client_cpu_s,
        server_cpu_s=server_cpu_s,
    )


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # the standard loop is slower but still far cheaper than the server per request
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> None:
    """Read the plan on stdin, run it, write `{"phases": [...]}` on stdout."""
    plan = json.load(sys.stdin)
    loop = _new_loop()
    try:
        results = loop.run_until_complete(run_plan(plan))
    finally:
        loop.close()
    json.dump({"phases": [asdict(r) for r in results]}, sys.stdout)


if __name__ == "__main__":
    main()
