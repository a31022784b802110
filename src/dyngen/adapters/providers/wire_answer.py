"""`WireAnswer`: an answer read straight from a wire, without an httpx request or response around it: aiohttp's
(`http_transport.Exchange`) or reqwest's (`plain_wire.PlainAnswer`). It is what `ssrf.guarded_request` reads of an
`httpx.Response`: `status_code`, `headers`, `is_redirect`, `aiter_bytes` (the body decoded: an encoded answer goes
through httpx's decoders) and `aclose`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

import httpx

# The Content-Encoding of an answer read as it comes; any other is decoded by httpx's decoders.
_IDENTITY = frozenset({"", "identity"})


class WireAnswer(ABC):
    """An answer whose body is still to read; a wire gives its bytes (`_raw`) and gives the connection back."""

    def __init__(self, status_code: int, headers: httpx.Headers) -> None:
        self.status_code = status_code
        self.headers = headers

    @property
    def is_redirect(self) -> bool:
        return httpx.codes.is_redirect(self.status_code) and "location" in self.headers

    @abstractmethod
    def _raw(self) -> AsyncIterator[bytes]:
        """The body's bytes as they came over the wire, its failures as httpx's errors."""

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives, decoded (httpx's decoders, for an encoded answer)."""
        if self.headers.get("content-encoding", "").strip().lower() in _IDENTITY:
            async for chunk in self._raw():
                yield chunk
            return
        encoded = httpx.Response(self.status_code, headers=self.headers, stream=_Stream(self._raw()))
        async for chunk in encoded.aiter_bytes():
            yield chunk

    @abstractmethod
    async def aclose(self) -> None:
        """Done with the answer: its connection goes back to the pool when its body was read, else it is closed."""


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk
