"""Where `POST /api/generate-content` goes: `python -m bench.request_walk [-v]` (not part of `make bench`).

One request on a miss, then hits, in the memory mode: the call tree of the request (and of the single
flight's producer, which runs in a task of its own), walked depth first (enter a callee, come back), kept to
the entry points and the use cases (adapters, the domain and the services' machinery, such as memos, cache
tiers, media links and registries, are left out), consecutive stops in one file merged. Prints the stops,
the files entered and the returns to a file already left. Run it against another checkout with
`PYTHONPATH=<checkout>/src`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

BODY = {"type": "dialogue", "node_id": "walk", "seed": 7, "strategy": "once", "purpose": "ambient"}
# The machinery of the flat services/ before it had a folder of its own.
FLAT_MACHINERY = {
    "services/memo.py",
    "services/cache.py",
    "services/media.py",
    "services/providers.py",
    "services/scores.py",
    "services/background.py",
    "services/container.py",
    "services/templates.py",
}
ROUTE = "entrypoints/api/routes/generation.py"
FAST_PATH = "entrypoints/api/fast_path.py"

Node = dict[str, Any]


def use_case(file: str) -> bool:
    if file.startswith("entrypoints/"):
        return True
    return file.startswith("services/") and not file.startswith("services/machinery/") and file not in FLAT_MACHINERY


class Recorder:
    """The call tree of the dyngen frames entered while it is installed (a resumed coroutine is not a call)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.tree: Node = {"file": "", "name": "", "children": []}
        self.nodes: dict[int, Node] = {}
        self.frames: list[FrameType] = []  # held, so that no later frame reuses an id

    def __call__(self, frame: FrameType, event: str, arg: object) -> None:
        file = frame.f_code.co_filename
        if event != "call" or not file.startswith(self.root) or id(frame) in self.nodes:
            return
        parent = frame.f_back
        while parent is not None and id(parent) not in self.nodes:
            parent = parent.f_back
        node: Node = {"file": file[len(self.root) :], "name": frame.f_code.co_name, "children": []}
        (self.nodes[id(parent)] if parent is not None else self.tree)["children"].append(node)
        self.nodes[id(frame)] = node
        self.frames.append(frame)


def find(node: Node, file: str, name: str) -> Node | None:
    if node["file"] == file and node["name"] == name:
        return node
    for child in node["children"]:
        if (found := find(child, file, name)) is not None:
            return found
    return None


def visit(node: Node, walk: list[str]) -> None:
    walk.append(node["file"])
    for child in node["children"]:
        visit(child, walk)
        walk.append(node["file"])


def summary(walk: list[str]) -> tuple[list[str], int, int]:
    stops: list[str] = []
    for file in walk:
        if use_case(file) and (not stops or stops[-1] != file):
            stops.append(file)
    seen: set[str] = set()
    returns = 0
    for file in stops:
        returns += file in seen
        seen.add(file)
    return stops, len(seen), returns


async def main(verbose: bool) -> None:
    import dyngen
    from dyngen.bootstrap import build
    from dyngen.config import Settings
    from dyngen.entrypoints.api.app import create_app

    root = str(Path(dyngen.__file__).parent) + "/"
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), database_url="memory://", auth="off")
    services = await build(settings)
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://walk") as client:
        assert (await client.post("/api/generate-content", json={**BODY, "seed": 8})).status_code == 200
        for label in ("miss", "hit", "hit again"):
            recorder = Recorder(root)
            sys.setprofile(recorder)
            try:
                response = await client.post("/api/generate-content", json=BODY)
            finally:
                sys.setprofile(None)
            assert response.json()["cache"]["hit"] is (label != "miss"), response.text
            walk: list[str] = []
            # A hit in the memory tier is answered by the pure-ASGI fast path, before any route.
            route = find(recorder.tree, ROUTE, "generate_content") or find(recorder.tree, FAST_PATH, "__call__")
            assert route is not None
            visit(route, walk)
            for top in recorder.tree["children"]:  # the single flight's producer, in its own task
                if top["file"].startswith("services/") and top["name"] == "produce":
                    visit(top, walk)
            stops, files, returns = summary(walk)
            print(f"{label}: stops={len(stops)} files={files} returns_to_a_file_left={returns}")
            if verbose:
                print("   " + " > ".join(stops))
    await services.aclose()


if __name__ == "__main__":
    asyncio.run(main("-v" in sys.argv))
