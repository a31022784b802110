"""The SSRF rule's per-host private allowance, and ComfyUI workflow loading, without a server."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from dyngen.adapters.providers.comfyui.workflow import load, outputs
from dyngen.adapters.providers.ssrf import check_address, pinned, secret_parts
from dyngen.domain.errors import DyngenError


async def test_a_named_private_host_passes_and_only_that_one() -> None:
    url, address = await check_address(
        "http://127.0.0.1:8188/view", allowed_hosts=(), allow_private_hosts=False, private_hosts=["127.0.0.1"]
    )
    assert url.host == "127.0.0.1"
    assert address == "127.0.0.1", "still pinned to the checked address"
    for target, named in (("http://10.0.0.5/", ["127.0.0.1"]), ("http://127.0.0.1/", ["localhost"])):
        with pytest.raises(DyngenError, match="private_hosts"):
            await check_address(target, allowed_hosts=(), allow_private_hosts=False, private_hosts=named)


async def test_a_url_checked_again_is_resolved_again_and_pinned_to_its_new_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Parsing a URL and swapping its host are remembered per URL; the address it resolves to never is.
    answers = iter(["10.1.1.1", "10.2.2.2"])

    async def resolve(_self: object, host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(type(asyncio.get_running_loop()), "getaddrinfo", resolve)
    named = {"allowed_hosts": (), "allow_private_hosts": False, "private_hosts": ["models.internal"]}
    seen = []
    for _ in range(2):
        url, address = await check_address("http://models.internal:8080/v1/chat", **named)
        connect, headers, _extensions = pinned(url, address)
        seen.append((address, connect.host, headers["Host"]))

    assert seen == [
        ("10.1.1.1", "10.1.1.1", "models.internal:8080"),
        ("10.2.2.2", "10.2.2.2", "models.internal:8080"),
    ]


def test_secret_parts_cover_the_bare_key() -> None:
    assert secret_parts(["Bearer sk-0123456789"]) == ["Bearer sk-0123456789", "sk-0123456789"]


def test_the_shipped_workflows_load_with_their_maps() -> None:
    still = load("example:scene_still", None)
    assert still.read("seed") == 0
    transition = load("example:transition", None)
    assert transition.read("fps") == 16
    assert [t.node for t in transition.inputs["from_image"]] == ["52"]
    filled = transition.filled({"frames": 49, "prompt": None})
    assert filled["83"]["inputs"]["length"] == 49
    assert transition.graph["83"]["inputs"]["length"] == 33, "the loaded workflow is not changed"
    assert filled["6"]["inputs"]["text"] == transition.graph["6"]["inputs"]["text"], "None leaves an input alone"


def test_the_ui_save_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ui.json"
    path.write_text(json.dumps({"nodes": [], "links": [], "version": 0.4}))
    with pytest.raises(ValueError, match="API format"):
        load(str(path), {})


def test_outputs_prefer_saved_files_over_previews() -> None:
    entry = {
        "outputs": {
            "9": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]},
            "12": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}]},
        }
    }
    assert [f.filename for f in outputs(entry)] == ["a.png"]
