"""Media links: the signed, expiring artifact URLs a response hands out, and their check on the way in.

The signing is `domain/media.py`; this holds the deployment's secret, lifetime and public base URL, and
takes the time from the caller's clock. URLs are signed when a response is made, never when content is
cached, so a cached response never hands out an expired URL.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from dyngen.domain import media
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.responses import ArtifactLink, GeneratedContentPayload


class ArtifactLike(Protocol):
    """What a link is made from: a stored artifact's id, role, media type and size (None: a video still
    rendering, whose size is not known yet)."""

    @property
    def id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def media_type(self) -> str: ...
    @property
    def bytes(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class MediaLinks:
    """Signs artifact URLs with `secret` for `lifetime_s`, under `base_url` ("" = relative to the API).

    The default secret is random per process: fine for one process and for tests; `bootstrap.build` gives
    the deployment's (`DYNGEN_URL_SECRET`, or the one kept in the data dir).
    """

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    lifetime_s: int = 3600
    base_url: str = ""

    def expiry(self, now: datetime) -> int:
        """The `exp` of the URLs handed out at `now` (shared by every answer within a tenth of the lifetime)."""
        return media.expiry(now.timestamp(), self.lifetime_s)

    def url(self, artifact_id: str, *, exp: int) -> str:
        return media.signed_url(self.base_url, self.secret, artifact_id, exp)

    def present(
        self, content: GeneratedContentPayload | None, artifacts: Iterable[ArtifactLike] | None, *, exp: int
    ) -> tuple[GeneratedContentPayload | None, list[ArtifactLink] | None]:
        """`content` with its artifact URL signed, and every artifact as a signed link (None: none known)."""
        if content is not None and (primary := media.artifact_id_of(content.url)) is not None:
            content = content.model_copy(update={"url": self.url(primary, exp=exp)})
        links = [
            ArtifactLink(role=a.role, url=self.url(a.id, exp=exp), media_type=a.media_type, bytes=a.bytes)
            for a in artifacts or ()
        ]
        return content, links or None

    def check(self, *, artifact_id: str, exp: str | None, sig: str | None, now: datetime) -> None:
        """Let a signed request for `artifact_id` through, or raise.

        Raises:
            DyngenError: FORBIDDEN (403) for a signature that does not match, or one past its `exp`.
        """
        verdict = media.check(self.secret, artifact_id, exp=exp, sig=sig, now_s=now.timestamp())
        if verdict is media.LinkCheck.EXPIRED:
            raise DyngenError(ErrorCode.FORBIDDEN, "this artifact URL has expired: ask the API for a fresh one")
        if verdict is media.LinkCheck.INVALID:
            raise DyngenError(ErrorCode.FORBIDDEN, "this artifact URL's signature is not valid")
