"""`ssrf.Fetched`: the answer `guarded_request` hands on reads as the `httpx.Response` it replaces."""

from __future__ import annotations

import httpx
import pytest

from dyngen.adapters.providers.ssrf import Fetched


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{"said": "café"}'.encode()),
        ("application/json; charset=utf-16", '{"said": "café"}'.encode("utf-16")),
        ("text/plain; charset=latin-1", "café, déjà".encode("latin-1")),
        ('text/plain; charset="iso-8859-1"', "naïve".encode("iso-8859-1")),
        ("text/plain; charset=no-such-charset", b"plain"),
        ("", b"\xffnot utf-8"),
    ],
)
def test_json_and_text_read_as_httpx_reads_them(content_type: str, body: bytes) -> None:
    headers = [("content-type", content_type)] if content_type else []
    fetched = Fetched(200, httpx.Headers(headers), body)
    response = httpx.Response(200, headers=headers, content=body)
    assert fetched.text == response.text
    if content_type.startswith("application/json"):
        assert fetched.json() == response.json() == {"said": "café"}
    else:
        with pytest.raises(ValueError, match=r"Expecting value|codec"):
            fetched.json()
