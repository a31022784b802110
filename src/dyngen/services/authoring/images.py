"""Images uploaded in the editor (scene images): checked, stored as artifacts, listed for choosing.

An upload is taken only as PNG, JPEG or WebP by its magic bytes (the declared type is not trusted),
within the byte cap and, read from the header before anything is decoded, within the pixel cap. Its
bytes go to the artifact store like a provider's artifacts (content-addressed), and it is recorded as a
completed generation of the `upload` strategy under one cache key, so that `GET /api/artifacts/{id}`
serves it as any artifact, and retention keeps it (no window applies to that strategy). A scene names
it by its artifact id (`image`), as the providers that draw on scene images expect.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from pydantic import BaseModel

from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.images import read_header
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.ports import ArtifactStore, Clock, GenerationFilter, GenerationRepository
from dyngen.services.machinery.ids import new_id
from dyngen.services.machinery.media import MediaLinks

log = logging.getLogger("dyngen.authoring")

UPLOAD_KEY = "upload:image"  # the cache key every uploaded image's record is listed under
UPLOAD_STRATEGY = "upload"


class UploadedImage(BaseModel):
    """An image stored as an artifact: `artifact_id` is what a scene's `image` names; `url` is the API
    path (a key when keys are enforced), `signed_url` loads without one until it expires."""

    artifact_id: str
    url: str
    signed_url: str
    media_type: str
    width: int
    height: int
    bytes: int
    name: str | None = None
    created_at: datetime


class ImageList(BaseModel):
    images: list[UploadedImage]


def _present(record: GenerationRecord, links: MediaLinks, now: datetime) -> UploadedImage | None:
    if not record.artifacts:
        return None
    artifact = record.artifacts[0]
    upload = record.request.get("upload", {})
    return UploadedImage(
        artifact_id=artifact.id,
        url=f"/api/artifacts/{artifact.id}",
        signed_url=links.url(artifact.id, exp=links.expiry(now)),
        media_type=artifact.media_type,
        width=int(upload.get("width", 0)),
        height=int(upload.get("height", 0)),
        bytes=artifact.size,
        name=upload.get("name"),
        created_at=artifact.created_at,
    )


async def upload_image(
    *,
    data: bytes,
    name: str | None,
    max_bytes: int,
    max_pixels: int,
    repository: GenerationRepository,
    artifacts: ArtifactStore,
    links: MediaLinks,
    clock: Clock,
) -> UploadedImage:
    """Check and store one uploaded image.

    Raises:
        DyngenError: UNSUPPORTED_MEDIA_TYPE (415) for bytes that are not a PNG, JPEG or WebP image;
            PAYLOAD_TOO_LARGE (413) over `max_bytes` or over `max_pixels` pixels.
    """
    if len(data) > max_bytes:
        raise DyngenError(ErrorCode.PAYLOAD_TOO_LARGE, f"image of {len(data)} bytes is over the {max_bytes} byte cap")
    header = read_header(data)
    if header is None:
        raise DyngenError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE, "not a PNG, JPEG or WebP image (its first bytes are of none of them)"
        )
    if header.pixels > max_pixels:
        raise DyngenError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"image of {header.width}x{header.height} pixels is over the {max_pixels} pixel cap",
            details=[{"field": "body", "message": "too many pixels", "width": header.width, "height": header.height}],
        )
    digest = hashlib.sha256(data).hexdigest()
    uri = await artifacts.put(data, media_type=header.media_type, content_hash=digest)
    now = clock.now()
    generation_id = new_id()
    artifact = ArtifactRecord(
        id=new_id(),
        generation_id=generation_id,
        role="image",
        media_type=header.media_type,
        size=len(data),
        content_hash=digest,
        storage_uri=uri,
        created_at=now,
    )
    record = GenerationRecord(
        id=generation_id,
        created_at=now,
        completed_at=now,
        cache_key=UPLOAD_KEY,
        version=0,
        type="image",
        purpose="upload",
        strategy=UPLOAD_STRATEGY,
        seed_source="none",
        deterministic=True,
        provider="upload",
        status=GenerationStatus.COMPLETE,
        content_hash=digest,
        config_fingerprint="upload",
        request={"upload": {"name": name, "width": header.width, "height": header.height}},
        artifacts=[artifact],
    )
    await repository.add(record)
    log.info(
        "image.uploaded artifact=%s media_type=%s bytes=%d pixels=%dx%d",
        artifact.id,
        header.media_type,
        len(data),
        header.width,
        header.height,
    )
    uploaded = _present(record, links, now)
    assert uploaded is not None
    return uploaded


async def list_images(*, repository: GenerationRepository, links: MediaLinks, clock: Clock, limit: int) -> ImageList:
    """The uploaded images, newest first, with URLs that load without a key (for `<img>`)."""
    now = clock.now()
    found = await repository.find(GenerationFilter(cache_key=UPLOAD_KEY, limit=limit))
    return ImageList(images=[image for record in found if (image := _present(record, links, now)) is not None])
