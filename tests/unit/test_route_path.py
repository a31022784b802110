"""`route_path`: the path the routes match behind a proxy's prefix, as Starlette's router takes it."""

from __future__ import annotations

import pytest

from dyngen.entrypoints.api.middleware import route_path


@pytest.mark.parametrize(
    ("root_path", "path", "routed"),
    [
        ("", "/api/generate-content", "/api/generate-content"),
        ("/dyngen", "/dyngen/api/generate-content", "/api/generate-content"),
        ("/dyngen", "/dyngen", ""),
        ("/dyngen", "/dyngen/", "/"),
        ("/dyngen", "/dyngenx/api/generate-content", "/dyngenx/api/generate-content"),
        ("/dyngen", "/api/generate-content", "/api/generate-content"),
        ("/api/generate-content", "/api/generate-content", ""),
    ],
)
def test_the_root_path_is_stripped_only_as_a_whole_segment(root_path: str, path: str, routed: str) -> None:
    assert route_path({"type": "http", "path": path, "root_path": root_path}) == routed
