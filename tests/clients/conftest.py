"""Fixtures of the client tests: one real `dyngen serve` (transitions rendered to video, as the product
does) with the clients' test graph stored, and a TCP proxy in front of it to cut or hang."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.proxy import TcpProxy
from tests.support.servers import Process, dyngen_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = ROOT / "docs" / "clients" / "examples"
STORY = json.loads((EXAMPLES / "harbor_story.json").read_text(encoding="utf-8"))
# The product's default (tests/conftest.py makes transitions text for the rest of the suite): the clients
# play a real video.
VIDEO_TRANSITIONS = '{"transition": "builtin_video"}'


@dataclass(frozen=True)
class StoryServer:
    """A running server: its own URL, and a proxy URL a test may cut or hang (restored after each test)."""

    base: str
    process: Process
    proxy: TcpProxy

    @property
    def proxied(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"


@pytest.fixture(scope="session")
def story_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoryServer]:
    workdir = tmp_path_factory.mktemp("client-server")
    env = {
        "DYNGEN_DATA_DIR": str(workdir / "data"),
        "DYNGEN_PROVIDERS_BY_TYPE": VIDEO_TRANSITIONS,
    }
    process, base = dyngen_server(workdir, env, name="clients")
    try:
        stored = httpx.post(f"{base}/api/graphs", json=STORY, timeout=30)
        assert stored.status_code == 201, stored.text
        port = int(base.rsplit(":", 1)[1])
        proxy = TcpProxy("127.0.0.1", port)
        try:
            yield StoryServer(base=base, process=process, proxy=proxy)
        finally:
            proxy.close()
    finally:
        process.stop()


@pytest.fixture
def server(story_server: StoryServer) -> Iterator[StoryServer]:
    """The session's server, its proxy forwarding again after the test."""
    story_server.proxy.restore()
    yield story_server
    story_server.proxy.restore()


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example graph exported by `dyngen export` (tests/clients/bundles.py); copy it before changing it."""
    from tests.clients.bundles import export

    return export(tmp_path_factory.mktemp("export"))
