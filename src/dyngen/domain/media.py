"""Signed artifact URLs: what lets `<video>`, `<img>` and `<track>` load an artifact with API keys enforced.

A browser cannot put an API key header on a media element's request, and a key in the query string would
leak into logs, histories and referrers (`?key=` stays refused). So the URLs a response hands out carry a
signature instead: `/api/artifacts/{id}?exp={unix seconds}&sig={HMAC-SHA256(secret, id + exp)}`. A valid
signature lets that one artifact be read (GET or HEAD) without a key until `exp`; a changed id, `exp` or
`sig` fails the check, and so does a passed `exp`.

Pure: the secret and the time are the caller's (the service holds the secret, the clock gives the time).

Expiry times are rounded up to a step of a tenth of the lifetime, so that every response served within
one step carries the same URL: a cache hit's response bytes can be rendered once per step instead of once
per request, and a CDN in front caches one URL per artifact per step. Every URL handed out is valid for
at least the lifetime and less than 1.1 times it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from enum import StrEnum

ARTIFACT_PATH = "/api/artifacts/"

# The extension a downloaded artifact's file name gets, by media type (the stdlib's table depends on
# the machine's mime.types, and lacks text/vtt on some).
EXTENSIONS = {
    "video/mp4": "mp4",
    "video/webm": "webm",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "text/vtt": "vtt",
    "application/json": "json",
    "text/plain": "txt",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
}


class LinkCheck(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


def expiry(now_s: float, lifetime_s: int) -> int:
    """The `exp` of a URL handed out at `now_s`: `now_s + lifetime_s`, rounded up to a tenth of the lifetime."""
    step = max(1, lifetime_s // 10)
    return math.ceil((now_s + lifetime_s) / step) * step


def signature(secret: bytes, artifact_id: str, exp: int) -> str:
    """The URL-safe signature of one artifact until `exp`."""
    mac = hmac.new(secret, f"{artifact_id}\n{exp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def signed_url(base: str, secret: bytes, artifact_id: str, exp: int) -> str:
    """`{base}/api/artifacts/{id}?exp=...&sig=...`; `base` is "" for a URL relative to the API."""
    return f"{base}{ARTIFACT_PATH}{artifact_id}?exp={exp}&sig={signature(secret, artifact_id, exp)}"


def check(secret: bytes, artifact_id: str, *, exp: str | None, sig: str | None, now_s: float) -> LinkCheck:
    """Whether `exp` and `sig` (as the query string gave them) let `artifact_id` be read at `now_s`."""
    if not exp or not sig or not exp.isascii() or not exp.isdigit() or len(exp) > 12:
        return LinkCheck.INVALID
    if not hmac.compare_digest(signature(secret, artifact_id, int(exp)).encode(), sig.encode("utf-8", "replace")):
        return LinkCheck.INVALID
    return LinkCheck.VALID if now_s < int(exp) else LinkCheck.EXPIRED


def artifact_id_of(url: str | None) -> str | None:
    """The artifact id a payload URL names (`/api/artifacts/{id}`), or None for any other URL."""
    if not url or not url.startswith(ARTIFACT_PATH):
        return None
    found = url[len(ARTIFACT_PATH) :].partition("?")[0]
    return found or None


def file_name(role: str, artifact_id: str, media_type: str) -> str:
    """A download's file name: role, id and the media type's extension, e.g. `video-3f2a....mp4`."""
    extension = EXTENSIONS.get(media_type.partition(";")[0].strip().lower(), "bin")
    safe_role = "".join(c for c in role if c.isalnum() or c in "_-") or "artifact"
    return f"{safe_role}-{artifact_id}.{extension}"
