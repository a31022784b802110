"""A generation's content as files in a folder (`dyngen generate --out DIR`).

The response is served as `generate_content` serves it (same cache key, seed, provider, fallback); each of
its artifacts is then read back from the artifact store and written under a file name that says its role
and type (`video-<id>.mp4`, `poster-<id>.jpg`, `captions-<id>.vtt`), and the response itself as
`response.json`, every artifact URL in it replaced by its file's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from dyngen.domain import media
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.responses import ArtifactLink, GenerateContentResponse
from dyngen.services.generation.front_door import generate_content
from dyngen.services.generation.ports import GenerationPorts
from dyngen.services.reporting import records

RESPONSE_FILE = "response.json"


class FileSink(Protocol):
    """Where the files go (a folder for the CLI; names are relative)."""

    async def write(self, path: str, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """One file written: its name in the folder, its role (`response` for the response), type and size."""

    path: str
    role: str
    media_type: str
    bytes: int


def _artifact_id(url: str) -> str | None:
    """The artifact a URL of a response names, relative (`/api/artifacts/ID?...`) or under DYNGEN_PUBLIC_URL."""
    at = url.find(media.ARTIFACT_PATH)
    return media.artifact_id_of(url[at:]) if at >= 0 else None


async def generate_files(
    *, request: GenerateContentRequest, sink: FileSink, ports: GenerationPorts
) -> tuple[GenerateContentResponse, list[WrittenFile]]:
    """Serve `request` and write its content's files to `sink`.

    Returns:
        The response with every artifact URL replaced by its file's name, and the files written (the
        artifacts in the response's order, then `response.json`).

    Raises:
        DyngenError: as `generate_content`; NOT_FOUND when an artifact the response names is gone.
    """
    response = await generate_content(request=request, ports=ports)
    written: list[WrittenFile] = []
    names: dict[str, str] = {}
    links: list[ArtifactLink] = []
    for link in response.artifacts or []:
        artifact_id = _artifact_id(link.url)
        if artifact_id is None:  # not one of ours (a provider's own URL): kept as it is
            links.append(link)
            continue
        record, data = await records.get_artifact(
            artifact_id=artifact_id,
            repository=ports.serving.runs.repository,
            outbox=ports.serving.runs.outbox,
            artifacts=ports.serving.runs.artifacts,
        )
        name = media.file_name(link.role, artifact_id, record.media_type)
        if artifact_id not in names:
            await sink.write(name, data)
            written.append(WrittenFile(path=name, role=link.role, media_type=record.media_type, bytes=len(data)))
        names[artifact_id] = name
        links.append(link.model_copy(update={"url": name}))
    content = response.content
    primary = _artifact_id(content.url) if content is not None and content.url else None
    if content is not None and primary is not None and primary in names:
        content = content.model_copy(update={"url": names[primary]})
    response = response.model_copy(update={"content": content, "artifacts": links or response.artifacts})
    body = json.dumps(response.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2, ensure_ascii=False)
    data = (body + "\n").encode()
    await sink.write(RESPONSE_FILE, data)
    written.append(WrittenFile(path=RESPONSE_FILE, role="response", media_type="application/json", bytes=len(data)))
    return response, written
