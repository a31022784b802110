"""Reading what was generated: generation records and artifact bytes."""

from __future__ import annotations

from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.ports import GenerationFilter
from dyngen.services.container import Services


async def get_generation(*, generation_id: str, services: Services) -> GenerationRecord:
    """Raises DyngenError NOT_FOUND when no generation has this id."""
    record = await services.repository.get(generation_id)
    if record is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no generation {generation_id!r}")
    return record


async def list_generations(*, query: GenerationFilter, services: Services) -> list[GenerationRecord]:
    """Newest first, filtered by cache key, node, status and version."""
    return await services.repository.find(query)


async def get_artifact(*, artifact_id: str, services: Services) -> tuple[ArtifactRecord, bytes]:
    """An artifact's record and bytes. Raises DyngenError NOT_FOUND for an unknown id."""
    record = await services.repository.get_artifact(artifact_id)
    if record is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no artifact {artifact_id!r}")
    return record, await services.artifacts.get(record.storage_uri)
