"""Named provider instances: each kind's settings model validates its sections (a third-party plugin
declares its own through its entry point), instances take their names, cap their calls in flight, and the
registry routes by node, template and type."""

from __future__ import annotations

import asyncio
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from dyngen.adapters.providers import plugins
from dyngen.adapters.providers.plugins import ProviderInstance, instance_problems, load_instances
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.errors import DyngenError
from dyngen.ports import ProviderCall
from dyngen.services.machinery.providers import ProviderRegistry
from tests.fakes import FakeProvider

PLUGIN = """
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from dyngen.domain.contracts import GenerationType
from dyngen.ports import ProviderInfo


class StudioSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str
    token: SecretStr
    steps: int = Field(default=20, ge=1, le=150)


class StudioProvider:
    settings_model = StudioSettings
    needs_options = True

    def __init__(self, *, endpoint: str, token: str, steps: int = 20, client: object = None) -> None:
        self.endpoint, self.token, self.steps, self.client = endpoint, token, steps, client
        self.info = ProviderInfo(
            name="studio", generation_types=frozenset(GenerationType), media=frozenset(), deterministic=True
        )

    def estimate_cost(self, request: object) -> float:
        return 0.0
"""


@pytest.fixture
def studio_plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A third-party package `dyngen_studio_plugin` whose entry point `studio` declares a settings model."""
    (tmp_path / "dyngen_studio_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "dyngen_studio_plugin", raising=False)
    builtin = EntryPoint(name="builtin", value="dyngen.adapters.providers.builtin:BuiltinProvider", group=plugins.GROUP)
    openai = EntryPoint(name="openai", value="dyngen.adapters.providers.openai:OpenAIProvider", group=plugins.GROUP)
    studio = EntryPoint(name="studio", value="dyngen_studio_plugin:StudioProvider", group=plugins.GROUP)
    monkeypatch.setattr(plugins, "entry_points", lambda group: [builtin, openai, studio])


@pytest.mark.usefixtures("studio_plugin")
def test_a_plugin_section_is_validated_by_the_model_its_entry_point_declares() -> None:
    problems = instance_problems(
        {
            "paint": {"kind": "studio", "endpoint": "http://gpu:8188", "steps": 500, "colour": "red", "stpes": 2},
            "other": {"kind": "studoi"},
        }
    )

    assert ("providers.paint.token", "Field required") in problems
    assert ("providers.paint.steps", "Input should be less than or equal to 150") in problems
    assert ("providers.paint.colour", "unknown key") in problems
    assert ("providers.paint.stpes", "unknown key (did you mean `providers.paint.steps`?)") in problems
    assert any(key == "providers.other.kind" and "unknown kind 'studoi'" in msg for key, msg in problems)


@pytest.mark.usefixtures("studio_plugin")
def test_instances_of_one_kind_get_their_own_names_and_settings() -> None:
    client = object()
    built = load_instances(
        {
            "paint": {"kind": "studio", "endpoint": "http://gpu-a:8188", "token": "t-a"},
            "sketch": {"kind": "studio", "endpoint": "http://gpu-b:8188", "token": "t-b", "steps": 4},
            "story": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m1"},
            "local": {"kind": "openai", "base_url": "http://127.0.0.1:11434/v1", "model": "llama3"},
        },
        {"client": client},
    )

    assert set(built) == {"builtin", "paint", "sketch", "story", "local"}, "kinds needing settings only as instances"
    paint, sketch = built["paint"], built["sketch"]
    assert (paint.info.name, sketch.info.name) == ("paint", "sketch")
    assert (paint.endpoint, paint.token, paint.steps) == ("http://gpu-a:8188", "t-a", 20)  # type: ignore[attr-defined]
    assert (sketch.endpoint, sketch.steps) == ("http://gpu-b:8188", 4)  # type: ignore[attr-defined]
    assert paint.client is client, "runtime arguments come from the registry"  # type: ignore[attr-defined]
    assert built["local"].info.name == "local"


@pytest.mark.usefixtures("studio_plugin")
def test_a_refused_section_stops_the_start_naming_the_key_and_never_the_secret() -> None:
    with pytest.raises(ValueError, match=r"providers.paint.steps") as caught:
        load_instances({"paint": {"kind": "studio", "endpoint": "e", "token": "sk-do-not-echo", "steps": 0}}, {})
    assert "sk-do-not-echo" not in str(caught.value)


def call(deadline_s: float = 5.0) -> ProviderCall:
    request = GenerateContentRequest.model_validate(
        {"type": "dialogue", "from_scene": {"id": "a", "mood": "calm"}, "to_scene": {"id": "b", "mood": "calm"}}
    )
    return ProviderCall(request=request, seed=1, attempt=1, deadline_s=deadline_s)


async def test_calls_beyond_the_concurrency_cap_wait_their_turn() -> None:
    inner = FakeProvider(name="local", hang=True)
    instance = ProviderInstance(inner, concurrency=2, timeout_s=None, health=True)

    calls = [asyncio.create_task(instance.generate(call())) for _ in range(3)]
    for _ in range(100):  # the first two start at once; the third would have started by now if nothing held it
        await asyncio.sleep(0)
    assert len(inner.calls) == 2, "two in flight, the third queued"

    inner.release()
    await asyncio.gather(*calls)
    assert len(inner.calls) == 3


async def test_an_instance_timeout_cuts_a_hanging_call() -> None:
    instance = ProviderInstance(FakeProvider(name="slow", hang=True), concurrency=None, timeout_s=0.01, health=True)

    with pytest.raises(DyngenError, match=r"provider 'slow' did not answer within 0\.01 s"):
        await instance.generate(call())


def test_the_registry_routes_by_node_then_template_then_type() -> None:
    providers = {name: FakeProvider(name=name) for name in ("builtin", "story", "local", "video")}
    registry = ProviderRegistry(
        providers, default="builtin", by_type={"dialogue": "local"}, by_template={"villain.taunt": "story"}
    )
    base = {"type": "dialogue", "from_scene": {"id": "a", "mood": "calm"}, "to_scene": {"id": "b", "mood": "calm"}}

    def pick(**extra: object) -> str:
        return registry.select(GenerateContentRequest.model_validate(base | extra)).info.name

    assert pick() == "local"
    assert pick(template_id="villain.taunt") == "story"
    assert pick(template_id="villain.taunt", provider="video") == "video"
    with pytest.raises(ValueError, match="provider 'nope' is configured but not installed"):
        ProviderRegistry(providers, default="builtin", by_template={"t": "nope"})


SETTINGS_PLUGIN = """
from pydantic import BaseModel, ConfigDict

from dyngen.domain.contracts import GenerationType
from dyngen.ports import ProviderInfo


class NodeGraphSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = "http://127.0.0.1:8188"
    workflow: str


class NodeGraphProvider:
    def __init__(self, *, settings: NodeGraphSettings, client: object = None) -> None:
        self.settings = settings
        self.info = ProviderInfo(
            name="graph", generation_types=frozenset(GenerationType), media=frozenset(), deterministic=False
        )

    def estimate_cost(self, request: object) -> float:
        return 0.0
"""


def test_a_kind_taking_a_settings_model_gets_it_validated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "dyngen_graph_plugin.py").write_text(SETTINGS_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "dyngen_graph_plugin", raising=False)
    graph = EntryPoint(name="graph", value="dyngen_graph_plugin:NodeGraphProvider", group=plugins.GROUP)
    monkeypatch.setattr(plugins, "entry_points", lambda group: [graph])

    assert instance_problems({"studio": {"kind": "graph", "url": "http://gpu:8188"}}) == [
        ("providers.studio.workflow", "Field required")
    ]
    built = load_instances({"studio": {"kind": "graph", "workflow": "still.json", "concurrency": 1}}, {})
    assert built["studio"].info.name == "studio"
    assert built["studio"].settings.workflow == "still.json"  # type: ignore[attr-defined]


async def test_the_builtin_video_renders_one_per_two_cpus_at_once_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # 40 first requests for a 30 s video on 2 cores, every render at once: all fell back at the node's 4 s.
    import httpx

    from dyngen import bootstrap_providers
    from dyngen.adapters.clock import SystemClock
    from dyngen.adapters.providers.video.provider import BuiltinVideoProvider
    from dyngen.config import Settings

    started: list[ProviderCall] = []
    release = asyncio.Event()

    async def render(self: BuiltinVideoProvider, call: ProviderCall) -> object:
        started.append(call)
        await release.wait()
        return None

    monkeypatch.setattr(BuiltinVideoProvider, "generate", render)
    monkeypatch.setattr(bootstrap_providers.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    async with httpx.AsyncClient() as http:
        registry = bootstrap_providers.provider_registry(Settings(), None, clock=SystemClock(), redis=None, http=http)
    video = registry.get("builtin_video")
    assert video is not None

    renders = [asyncio.create_task(video.generate(call())) for _ in range(3)]
    for _ in range(100):  # the first two start at once; the third would have started by now if nothing held it
        await asyncio.sleep(0)
    assert len(started) == 2, "4 CPUs: two renders at once, the third waits for a slot"

    release.set()
    await asyncio.gather(*renders)
    assert len(started) == 3


def test_the_video_render_cap_counts_the_cpus_where_there_is_no_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS has no `sched_getaffinity`: all the CPUs count (before, building the providers raised there)."""
    from dyngen import bootstrap_providers

    monkeypatch.delattr(bootstrap_providers.os, "sched_getaffinity")
    monkeypatch.setattr(bootstrap_providers.os, "cpu_count", lambda: 6)

    assert bootstrap_providers.video_renders() == 3
