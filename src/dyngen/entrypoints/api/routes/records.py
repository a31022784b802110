"""Record routes: generations and their artifacts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from dyngen.domain.access import Scope
from dyngen.domain.byte_ranges import byte_range
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.ids import IdChars
from dyngen.domain.media import file_name
from dyngen.domain.records import GenerationRecord
from dyngen.entrypoints.api.auth import require, require_unless_signed
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.middleware import is_upload_type
from dyngen.entrypoints.api.wire import services_of, wire_response
from dyngen.ports import ApiKey, GenerationFilter
from dyngen.services.authoring import images
from dyngen.services.machinery.live_media import LiveArtifact
from dyngen.services.reporting import records

router = APIRouter(prefix="/api", tags=["records"])

RecordId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class GenerationList(BaseModel):
    generations: list[GenerationRecord]
    count: int


@router.get(
    "/generations/{generation_id}",
    response_model=GenerationRecord,
    dependencies=[require(Scope.EDITOR)],
    responses=documented(401, 403, 404, 422),
)
async def get_generation(generation_id: RecordId, request: Request) -> Response:
    """One generation: request, key, seed, provider, status, error, fallback, latency, cost, artifacts.
    A generation answered while its video still renders is answered once the render ended (recorded)."""
    services = services_of(request)
    found = await records.get_generation(
        generation_id=generation_id, repository=services.repository, outbox=services.outbox, live=services.live
    )
    return wire_response(found)


@router.get(
    "/generations",
    response_model=GenerationList,
    dependencies=[require(Scope.EDITOR)],
    responses=documented(401, 403, 422),
)
async def list_generations(
    request: Request,
    *,
    cache_key: Annotated[str | None, Query(max_length=2000), IdChars] = None,
    node_id: Annotated[str | None, Query(max_length=200), IdChars] = None,
    status: GenerationStatus | None = None,
    version: Annotated[int | None, Query(ge=0, le=2**31)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Generations, newest first, filtered by cache key, node, status and version."""
    query = GenerationFilter(
        cache_key=cache_key, node_id=node_id, status=status.value if status else None, version=version, limit=limit
    )
    found = await records.list_generations(query=query, repository=services_of(request).repository)
    return wire_response(GenerationList(generations=found, count=len(found)))


ARTIFACT_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"*/*": {}}},
    206: {"description": "The requested byte range (`Range: bytes=...`)", "content": {"*/*": {}}},
    304: {"description": "Not modified"},
    416: {"description": "Range not satisfiable"},
    **documented(401, 403, 404, 422),
}


@router.get(
    "/artifacts/{artifact_id}",
    response_class=Response,
    dependencies=[require_unless_signed(Scope.RUNTIME)],
    responses=ARTIFACT_ANSWERS,
)
@router.head(
    "/artifacts/{artifact_id}",
    response_class=Response,
    dependencies=[require_unless_signed(Scope.RUNTIME)],
    responses=ARTIFACT_ANSWERS,
)
async def get_artifact(artifact_id: RecordId, request: Request) -> Response:
    """An artifact's bytes with its media type; immutable (artifacts are content-addressed).

    A single `Range: bytes=...` is honoured (206, or 416 when it lies past the end) so players can seek in
    video; a malformed one is ignored (the whole artifact). `HEAD` answers the same headers without the bytes.
    The signed URLs that responses hand out (`?exp=&sig=`) need no key; a changed or expired one is a 403.

    A video still rendering (a generation answered as soon as its video was playable) is streamed as it
    grows (`live_artifact`), then served as above once it is whole and recorded. The artifacts handed out
    with it (a poster, captions, the script) are whole already: served as above, but `no-cache` (revalidated
    by their ETag) until the record that keeps them is written.
    """
    services = services_of(request)
    if services.live is not None:
        if (live := services.live.get(artifact_id)) is not None:
            return live_artifact(live, request)
        if (whole := services.live.whole(artifact_id)) is not None:
            name = file_name(whole.role, whole.id, whole.media_type)
            return _artifact_bytes(
                request, whole.data, media_type=whole.media_type, name=name, etag=whole.content_hash, recorded=False
            )
    record, data = await records.get_artifact(
        artifact_id=artifact_id, repository=services.repository, outbox=services.outbox, artifacts=services.artifacts
    )
    name = file_name(record.role, record.id, record.media_type)
    return _artifact_bytes(request, data, media_type=record.media_type, name=name, etag=record.content_hash)


def _artifact_bytes(
    request: Request, data: bytes, *, media_type: str, name: str, etag: str, recorded: bool = True
) -> Response:
    """Whole artifact bytes as `get_artifact` serves them: ETag (the content hash), ranges, HEAD; cached
    for good once `recorded`, else revalidated (`no-cache`)."""
    etag = f'"{etag}"'
    # nosniff: a browser must take the stored media type as it is, never guess HTML or script from the bytes.
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff"}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    headers["Cache-Control"] = "public, max-age=31536000, immutable" if recorded else "no-cache"
    headers["Content-Disposition"] = f'inline; filename="{name}"'
    if_range = request.headers.get("if-range")
    wanted = byte_range(request.headers.get("range"), len(data)) if if_range in (None, etag) else None
    if wanted == "unsatisfiable":
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{len(data)}"})
    status = 200
    if wanted is not None:
        first, last = wanted
        headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
        data, status = data[first : last + 1], 206
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(data))
        return Response(status_code=status, media_type=media_type, headers=headers)
    return Response(content=data, status_code=status, media_type=media_type, headers=headers)


def live_artifact(live: LiveArtifact, request: Request) -> Response:
    """A video still being written, as it grows: no length, no ETag, not cached (`no-store`).

    Without a `Range`, or with one from byte 0, it is 200 and streamed from the start until the render
    ends: whole, or cut off (the connection ends with an error, and the generation's record says failed).
    A range that starts within what is written so far is 206 with those bytes (`Content-Range:
    bytes first-last/*`: the length is not known yet); one that starts beyond it is 416. Once the render is
    done and recorded, the artifact is served as any other (ranges, ETag, immutable).
    """
    headers = {
        "Cache-Control": "no-store",
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{file_name(live.role, live.id, live.media_type)}"',
    }
    wanted = _range_start(request.headers.get("range"))
    if wanted is not None and wanted[0] > 0:
        first, last = wanted
        size = live.size
        if first >= size:
            return Response(status_code=416, headers=headers)
        last = size - 1 if last is None else min(last, size - 1)
        headers["Content-Range"] = f"bytes {first}-{last}/*"
        data = live.data()[first : last + 1]
        if request.method == "HEAD":
            return _unknown_length(Response(status_code=206, media_type=live.media_type, headers=headers))
        return Response(content=data, status_code=206, media_type=live.media_type, headers=headers)
    if request.method == "HEAD":
        return _unknown_length(Response(status_code=200, media_type=live.media_type, headers=headers))
    return StreamingResponse(live.read(), media_type=live.media_type, headers=headers)


def _unknown_length(response: Response) -> Response:
    """A HEAD answer for bytes whose length is not known yet: no `Content-Length` (not 0)."""
    del response.headers["content-length"]
    return response


def _range_start(header: str | None) -> tuple[int, int | None] | None:
    """A single `bytes=first-[last]` range, or None (none, a suffix range or a malformed one: from 0)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header.removeprefix("bytes=").strip().partition("-")
    if not first.isdigit() or (last and not last.isdigit()) or (last and int(last) < int(first)):
        return None
    return int(first), int(last) if last else None


_IMAGE_BODY = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/artifacts",
    response_model=images.UploadedImage,
    status_code=201,
    responses=documented(401, 403, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": dict.fromkeys(
                ("image/png", "image/jpeg", "image/webp", "application/octet-stream"), _IMAGE_BODY
            ),
        }
    },
)
async def upload_artifact(
    request: Request,
    key: Annotated[ApiKey | None, require(Scope.EDITOR)],
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="The file's name, kept"), IdChars
    ] = None,
) -> Response:
    """Upload an image (a scene image) as an artifact: the body is the file's bytes. PNG, JPEG and WebP
    are told by their first bytes (the declared type is not trusted); over the byte cap or the pixel cap
    (read from the header, nothing is decoded) is 413, anything else 415. Answers the artifact id (what a
    scene's `image` names) and its URLs."""
    del key  # the scope check is the dependency's
    content_type = request.headers.get("content-type", "")
    if not is_upload_type(content_type.encode("latin-1")):
        raise DyngenError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"send the image as image/png, image/jpeg or image/webp (Content-Type was {content_type or 'none'})",
        )
    services = services_of(request)
    uploaded = await images.upload_image(
        data=await request.body(),
        name=name,
        max_bytes=services.options.upload_max_bytes,
        max_pixels=services.options.upload_max_pixels,
        repository=services.repository,
        artifacts=services.artifacts,
        links=services.media,
        clock=services.clock,
    )
    return wire_response(uploaded, status_code=201)


@router.get(
    "/artifacts",
    response_model=images.ImageList,
    dependencies=[require(Scope.EDITOR)],
    responses=documented(401, 403, 422, 503),
)
async def list_artifacts(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:
    """The images uploaded in the editor, newest first, with signed URLs an `<img>` loads without a key."""
    services = services_of(request)
    found = await images.list_images(
        repository=services.repository, links=services.media, clock=services.clock, limit=limit
    )
    return wire_response(found)


def _etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or a list of (possibly weak) tags compared weakly."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))
