"""The OpenAI provider's HTTP path imports nothing per call once warm.

httpcore imports `sniffio` inside its request path; without it installed, every upstream call retries the
failing import (10-15 % of a miss's CPU). After one warm-up call, a second call must load no new module and
attempt no import that is not already satisfied by `sys.modules`.
"""

from __future__ import annotations

import builtins
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

import httpx
import pytest

from dyngen.adapters.providers.openai import OpenAIProvider
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.ports import ProviderCall
from tests.support.openai_server import OpenAIServer


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    running = OpenAIServer()
    running.start()
    yield running
    running.stop()


def call() -> ProviderCall:
    request = GenerateContentRequest.model_validate(
        {
            "type": "transition",
            "from_scene": {"id": "cafe", "mood": "romantic"},
            "to_scene": {"id": "roof", "mood": "intense"},
            "duration": {"min": 10, "max": 40, "target": 30},
            "constraints": {"rating": "PG-13", "requiredElements": ["phone_ring", "kiss"]},
        }
    )
    return ProviderCall(request=request, seed=1, attempt=1, deadline_s=3.0)


async def test_a_warm_call_imports_nothing(server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    lazy: list[str] = []
    real_import = builtins.__import__
    caller = threading.get_ident()  # the server answers in its own thread; only this thread's imports count

    def watching_import(
        name: str,
        globals: Mapping[str, object] | None = None,
        locals: Mapping[str, object] | None = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> ModuleType:
        watched = threading.get_ident() == caller and level == 0 and name not in sys.modules
        try:
            module: Any = real_import(name, globals, locals, fromlist, level)
        except ImportError:
            if watched:
                lazy.append(f"{name} (failed)")
            raise
        if watched:
            lazy.append(name)
        return module  # type: ignore[no-any-return]

    async with httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, model="test-model", api_key="sk-test", client=client)
        await provider.generate(call())  # warm-up: first-use imports are fine
        before = set(sys.modules)
        monkeypatch.setattr(builtins, "__import__", watching_import)
        await provider.generate(call())
        monkeypatch.undo()
    assert lazy == [], f"imports on a warm call: {lazy}"
    assert set(sys.modules) - before == set()
