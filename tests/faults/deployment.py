"""A scaled deployment (PostgreSQL, Redis, S3) for fault tests, with each dependency reachable through a
`TcpProxy` the test controls, and the player's view of it: generate, check health, fetch every URL.

A fault test never asserts a duration. The dependencies get small timeouts through the settings, and
each request a player makes carries a client timeout equal to its node's deadline: a request held past
it fails the test (httpx raises). Waits for recovery poll with a deadline.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from tests.integration.scaled import AWS, create_bucket, transition_request
from tests.support.cli_zygote import run_dyngen
from tests.support.proxy import TcpProxy
from tests.support.servers import MotoS3Server, Process, dyngen_server
from tests.support.waiting import wait_until

Shape = Literal["refused", "hung"]
SHAPES: tuple[Shape, ...] = ("refused", "hung")

NODE_TIMEOUT_MS = 3000
# Deadlines of the dependency under test: far under a node's, so that a request it holds shows. (Only
# that one's: the others keep their defaults, as a loaded machine can be slower than these.)
DEPENDENCY_TIMEOUTS = {
    "redis": {
        "DYNGEN_REDIS_CONNECT_TIMEOUT_S": "0.5",
        "DYNGEN_REDIS_TIMEOUT_S": "0.5",
        "DYNGEN_REDIS_COOLDOWN_S": "0.5",
    },
    "s3": {"DYNGEN_S3_CONNECT_TIMEOUT_S": "0.5", "DYNGEN_S3_TIMEOUT_S": "0.5", "DYNGEN_S3_COOLDOWN_S": "0.5"},
    "postgres": {},
}


def fault(proxy: TcpProxy, shape: Shape) -> None:
    """Give the dependency behind `proxy` a failure shape: refused connections, or accepted and silent."""
    if shape == "refused":
        proxy.cut()
    else:
        proxy.hang()


def host_port(url: str) -> tuple[str, int]:
    """(host, port) of a `scheme://[user@]host:port/...` URL."""
    netloc = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = netloc.partition(":")
    return host, int(port)


@dataclass
class Deployment:
    """One `dyngen serve` process of a scaled deployment, and what its player was given."""

    base: str
    server: Process
    redis_prefix: str
    bucket: str
    env: dict[str, str] = field(default_factory=dict)  # the server's, for other processes of the deployment
    urls: set[str] = field(default_factory=set)

    def generate(self, playthrough: str, *, node_id: str = "stampede_node", **changes: Any) -> dict[str, Any]:
        """One generate-content request, which must be answered within its node's deadline with content
        or the node's fallback (never a 5xx); remembers the content URL it was given."""
        body = transition_request(playthrough, timeout_ms=NODE_TIMEOUT_MS)
        body["node_id"] = node_id
        body["player_context"] = {"playthroughId": playthrough, "playerId": "player-1"}
        body.update(changes)
        response = httpx.post(f"{self.base}/api/generate-content", json=body, timeout=NODE_TIMEOUT_MS / 1000)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        if answer["status"] == "complete":
            if url := (answer.get("content") or {}).get("url"):
                self.urls.add(url)
        else:
            assert answer["fallback"]["applied"], answer
        return answer

    def health(self) -> dict[str, Any]:
        """`GET /api/health`, which must answer within a node's deadline too (it probes every dependency)."""
        body: dict[str, Any] = httpx.get(f"{self.base}/api/health", timeout=NODE_TIMEOUT_MS / 1000).json()
        return body

    def degraded_by(self, dependency: str) -> dict[str, Any]:
        """Poll until health is `degraded` with `dependency` down and named in the reasons."""

        def check() -> dict[str, Any] | None:
            report = self.health()
            down = report["dependencies"].get(dependency, {}).get("status") == "down"
            named = any(dependency in reason for reason in report["reasons"])
            return report if report["status"] == "degraded" and down and named else None

        found: dict[str, Any] = wait_until(check, what=f"health to say {dependency} is down")
        return found

    def recovered(self) -> None:
        """Poll until every dependency answers and the artifact spool is empty again. (Not the overall
        status: the session's database is shared, and another test's queued job may make it `degraded`.)"""
        last: dict[str, Any] = {}

        def check() -> bool:
            last.update(self.health())
            answering = all(d["status"] == "ok" for d in last["dependencies"].values())
            return answering and last["spooled_artifacts"] == 0

        try:
            wait_until(check, what="every dependency to answer again")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {last}\n{self.server.output()[-3000:]}") from None

    def dead_urls(self) -> list[str]:
        """Every URL the player was ever given that does not load now."""
        dead = []
        for url in sorted(self.urls):
            response = httpx.get(f"{self.base}{url}", timeout=10)
            if response.status_code != 200:
                dead.append(f"{url}: {response.status_code}")
        return dead


def migrate(env: dict[str, str]) -> None:
    run_dyngen(["migrate"], env={**os.environ, **env}, check=True)


@contextmanager
def scaled_deployment(
    tmp: Path,
    *,
    postgres_url: str,
    redis_url: str,
    s3: MotoS3Server,
    proxied: Literal["postgres", "redis", "s3"],
    extra_env: dict[str, str] | None = None,
    small_timeouts: bool = True,
) -> Iterator[tuple[Deployment, TcpProxy]]:
    """A `dyngen serve` process on PostgreSQL, Redis and S3, with the `proxied` one behind a `TcpProxy`
    (and, with `small_timeouts`, that one's deadlines far under a node's; else the defaults)."""
    prefix = f"faults-{uuid.uuid4().hex[:8]}"
    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    create_bucket(s3, bucket)
    target = {"postgres": postgres_url, "redis": redis_url, "s3": s3.endpoint}[proxied]
    host, port = host_port(target)
    proxy = TcpProxy(host, port)
    through = target.replace(f"{host}:{port}", f"127.0.0.1:{proxy.port}", 1)
    env = {
        **AWS,
        **(DEPENDENCY_TIMEOUTS[proxied] if small_timeouts else {}),
        "DYNGEN_DATA_DIR": str(tmp / "data"),
        "DYNGEN_DATABASE_URL": through if proxied == "postgres" else postgres_url,
        "DYNGEN_REDIS_URL": through if proxied == "redis" else redis_url,
        "DYNGEN_REDIS_PREFIX": prefix,
        "DYNGEN_OBJECT_STORE_URL": f"s3://{bucket}/dyngen",
        "DYNGEN_S3_ENDPOINT_URL": through if proxied == "s3" else s3.endpoint,
        "DYNGEN_S3_ACCESS_KEY_ID": "test",
        "DYNGEN_S3_SECRET_ACCESS_KEY": "test",
        **(extra_env or {}),
    }
    try:
        migrate(env)
        server, base = dyngen_server(tmp, env)
    except BaseException:
        proxy.close()
        raise
    try:
        yield Deployment(base=base, server=server, redis_prefix=prefix, bucket=bucket, env=env), proxy
    finally:
        server.stop()
        proxy.close()
