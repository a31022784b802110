"""The Python client's retries against a tiny scripted HTTP server (no dyngen): `Retry-After` honoured on
429 and 503, backoff, one `Idempotency-Key` across the attempts of a call, both fault shapes (refused and
accepted-but-silent) as a fallback, jobs polled and cancelled. Waits go to an injected sleep: no test waits."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from dyngen_client import DyngenClient, DyngenHTTPError
from dyngen_client.transport import Transport, retry_after_seconds

from tests.support.proxy import TcpProxy

COMPLETE = {"status": "complete", "content": {"type": "dialogue", "dialogue": ["Hi."]}, "cache_key": "k"}


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeDyngen:
    """Answers each request with the next scripted reply (the last one repeats) and records what it got."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                fake.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw) if raw else None,
                    )
                )
                reply = fake.replies.pop(0) if len(fake.replies) > 1 else fake.replies[0]
                data = json.dumps(reply.body).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815 - http.server's names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeDyngen]:
    server = FakeDyngen()
    yield server
    server.close()


class Sleeps:
    """The injected sleep: records each wait, and moves an injected monotonic clock by it."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def client_for(base: str, sleeps: Sleeps, **options: Any) -> DyngenClient:
    return DyngenClient(base, sleep=sleeps, clock=sleeps.clock, **{"timeout": 5.0, **options})


def test_a_503_with_retry_after_is_retried_after_that_many_seconds_with_the_same_idempotency_key(fake):
    fake.replies = [
        Reply(503, {"error": {"code": "DEPENDENCY_UNAVAILABLE", "message": "db"}}, {"Retry-After": "7"}),
        Reply(200, COMPLETE),
    ]
    sleeps = Sleeps()

    result = client_for(fake.base, sleeps).play_node("g", "n", {"playthroughId": "pt"})

    assert (result.status, result.source) == ("complete", "server")
    assert sleeps.waits == [7.0]
    keys = [s.headers["idempotency-key"] for s in fake.seen]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert keys[0]
    assert fake.seen[0].path == "/api/graphs/g/nodes/n/content"
    assert fake.seen[0].body == {"player_context": {"playthroughId": "pt"}}


def test_each_call_has_its_own_idempotency_key(fake):
    fake.replies = [Reply(200, COMPLETE)]
    client = client_for(fake.base, Sleeps())
    client.play_node("g", "n")
    client.play_node("g", "n")
    assert fake.seen[0].headers["idempotency-key"] != fake.seen[1].headers["idempotency-key"]


def test_a_429_is_retried_after_its_retry_after_and_then_answers_the_fallback_as_data(fake):
    fake.replies = [Reply(429, {"error": {"code": "GEN_RATE_LIMITED", "message": "slow down"}}, {"Retry-After": "2"})]
    sleeps = Sleeps()

    result = client_for(fake.base, sleeps, retries=2).play_node("g", "n")

    assert len(fake.seen) == 3
    assert sleeps.waits == [2.0, 2.0]
    assert (result.status, result.source) == ("failed", "unavailable")
    assert result.fallback is not None
    assert result.fallback["mode"] == "skip"
    assert "429" in result.fallback["reason"]
    assert "GEN_RATE_LIMITED" in result.fallback["reason"]
    assert result.error is not None
    assert result.error["code"] == "CLIENT_UNAVAILABLE"


def test_a_retry_after_longer_than_the_client_accepts_ends_the_retries_at_once(fake):
    fake.replies = [Reply(503, {"error": {"code": "DEPENDENCY_UNAVAILABLE", "message": "x"}}, {"Retry-After": "3600"})]
    sleeps = Sleeps()
    result = client_for(fake.base, sleeps, retries=3, max_retry_after=30).play_node("g", "n")
    assert len(fake.seen) == 1
    assert sleeps.waits == []
    assert result.failed


def test_without_retry_after_the_backoff_grows_between_attempts(fake):
    fake.replies = [Reply(502, None)]
    sleeps = Sleeps()
    client = client_for(fake.base, sleeps, retries=3, backoff=0.5, max_backoff=60)
    client.transport.rng = random.Random(7)

    assert client.play_node("g", "n").failed

    assert len(fake.seen) == 4
    assert len(sleeps.waits) == 3
    assert sleeps.waits[0] < sleeps.waits[1] < sleeps.waits[2]
    assert 0.25 <= sleeps.waits[0] <= 0.5
    assert 1.0 <= sleeps.waits[2] <= 2.0


def test_a_500_is_not_retried_and_answers_the_fallback(fake):
    fake.replies = [Reply(500, {"error": {"code": "INTERNAL", "message": "boom"}})]
    sleeps = Sleeps()
    result = client_for(fake.base, sleeps, retries=3).play_node("g", "n")
    assert len(fake.seen) == 1
    assert (result.status, result.source) == ("failed", "unavailable")


def test_a_refused_request_raises_with_the_servers_code_and_findings(fake):
    details = [{"field": "node_id", "message": "no node 'nx'", "suggestion": "n1"}]
    fake.replies = [Reply(404, {"error": {"code": "NOT_FOUND", "message": "no node 'nx'"}, "details": details})]
    with pytest.raises(DyngenHTTPError) as raised:
        client_for(fake.base, Sleeps(), retries=3).play_node("g", "nx")
    assert (raised.value.status, raised.value.code) == (404, "NOT_FOUND")
    assert raised.value.details[0]["suggestion"] == "n1"
    assert len(fake.seen) == 1


def test_a_failed_node_is_data_not_an_exception(fake):
    failed = {
        "status": "failed",
        "content": None,
        "cache_key": "k",
        "fallback": {"applied": True, "mode": "skip", "reason": "GEN_TIMEOUT"},
        "error": {"code": "GEN_TIMEOUT", "message": "slow"},
    }
    fake.replies = [Reply(200, failed)]
    result = client_for(fake.base, Sleeps()).play_node("g", "n")
    assert (result.failed, result.source, result.fallback) == (True, "server", failed["fallback"])
    assert len(fake.seen) == 1


def test_retry_after_as_an_http_date_counts_from_now():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert retry_after_seconds("12", now=0) == 12.0
    assert retry_after_seconds("soon", now=0) is None
    assert retry_after_seconds(None, now=0) is None


def test_the_api_key_goes_to_the_server_only(fake):
    other = FakeDyngen()
    try:
        fake.replies = [Reply(200, COMPLETE)]
        other.replies = [Reply(200, {"x": 1})]
        client = DyngenClient(fake.base, api_key="dyngen_secret")
        client.play_node("g", "n")
        client.transport.request("GET", f"{other.base}/file")
        assert fake.seen[0].headers["authorization"] == "Bearer dyngen_secret"
        assert "authorization" not in other.seen[0].headers
    finally:
        other.close()


@pytest.mark.parametrize("shape", ["cut", "hang"])
def test_a_server_refusing_or_never_answering_gives_the_fallback(fake, shape):
    fake.replies = [Reply(200, COMPLETE)]
    proxy = TcpProxy("127.0.0.1", fake.server.server_address[1])
    try:
        getattr(proxy, shape)()
        sleeps = Sleeps()
        client = DyngenClient(f"http://127.0.0.1:{proxy.port}", timeout=0.3, retries=1, sleep=sleeps)

        result = client.play_node("g", "n")

        assert (result.status, result.source) == ("failed", "unavailable")
        assert result.fallback is not None
        assert result.fallback["reason"].startswith({"cut": "unreachable", "hang": "timeout"}[shape])
        assert len(sleeps.waits) == 1, "retried once"
        assert fake.seen == []
    finally:
        proxy.close()


def test_a_job_is_submitted_with_prefer_respond_async_and_polled_until_it_ends(fake):
    fake.replies = [
        Reply(202, {"job_id": "j1", "status": "queued"}, {"Location": "/api/generation-jobs/j1"}),
        Reply(200, {"status": "queued", "job_id": "j1", "cache_key": "k"}),
        Reply(200, {"status": "processing", "job_id": "j1", "cache_key": "k"}),
        Reply(200, {**COMPLETE, "job_id": "j1", "content": {"type": "video", "url": "/api/artifacts/a1?exp=1&sig=s"}}),
    ]
    sleeps = Sleeps()

    result = client_for(fake.base, sleeps, poll_interval=0.25).generate({"type": "dialogue"}, respond_async=True)

    assert result.status == "complete"
    assert result.job_id == "j1"
    assert result.content["url"] == f"{fake.base}/api/artifacts/a1?exp=1&sig=s", "made absolute"
    assert fake.seen[0].headers["prefer"] == "respond-async"
    assert [s.path for s in fake.seen[1:]] == ["/api/generation-jobs/j1"] * 3
    assert sleeps.waits == [0.25, 0.25]


def test_a_job_not_done_in_time_is_cancelled_and_answers_the_fallback(fake):
    fake.replies = [
        Reply(202, {"job_id": "j2", "status": "queued"}),
        Reply(200, {"status": "processing", "job_id": "j2", "cache_key": "k"}),
        Reply(200, {"status": "processing", "job_id": "j2", "cache_key": "k"}),
        Reply(200, {"status": "processing", "job_id": "j2", "cache_key": "k"}),
        Reply(200, {"status": "failed", "job_id": "j2", "cache_key": "k", "error": {"code": "GEN_CANCELLED"}}),
    ]
    sleeps = Sleeps()

    result = client_for(fake.base, sleeps, poll_interval=1.0).play_node("g", "n", respond_async=True, wait_timeout=2.0)

    assert (result.status, result.source) == ("failed", "unavailable")
    assert "not done within 2.0s" in result.fallback["reason"]
    assert fake.seen[-1].method == "POST"
    assert fake.seen[-1].path == "/api/generation-jobs/j2/cancel"


def test_transport_urls_are_joined_to_the_base_and_other_schemes_are_refused():
    transport = Transport("http://h:1/")
    assert transport.url("/api/artifacts/x?sig=1") == "http://h:1/api/artifacts/x?sig=1"
    assert transport.url("https://cdn.example/x") == "https://cdn.example/x"
    with pytest.raises(Exception, match="only http and https"):
        transport.request("GET", "file:///etc/passwd")
