"""Node configs with history: save (a new version, validated), read any version, diff, roll back.

The saved config's `version` is its history number, so every save gives the node new cache keys.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dyngen.domain.contracts import GenerationNodeConfig, NodeStatus, Severity
from dyngen.domain.diff import Change, config_diff
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.node_checks import check_node
from dyngen.domain.responses import GenerationValidationResult, ValidationFinding
from dyngen.ports import NodeConfigRepository, NodeVersion
from dyngen.services.authoring.ports import AuthoringPorts


class NodeVersionView(BaseModel):
    node_id: str
    version: int
    author: str | None = None
    note: str | None = None
    created_at: str
    config: dict[str, Any]


class SavedNode(BaseModel):
    node_id: str
    version: int
    validation: GenerationValidationResult


def view(version: NodeVersion) -> NodeVersionView:
    return NodeVersionView(
        node_id=version.node_id,
        version=version.version,
        author=version.author,
        note=version.note,
        created_at=version.created_at.isoformat(),
        config=version.config,
    )


async def save_node(
    *, node_id: str, config: GenerationNodeConfig, author: str | None, note: str | None, ports: AuthoringPorts
) -> SavedNode:
    """Validate and store the node's next version.

    Raises:
        DyngenError: GEN_INVALID_CONFIG (422) with every error finding (a `provider` that names no
            configured instance or chain is one).
    """
    result = check_node(config)
    if config.provider and ports.providers.get(config.provider) is None:
        unknown = ValidationFinding(
            code="UNKNOWN_PROVIDER",
            field="provider",
            message=ports.providers.unknown(config.provider),
            severity=Severity.ERROR,
        )
        result = result.model_copy(update={"findings": [*result.findings, unknown], "status": NodeStatus.ERRORS})
    if result.status is NodeStatus.ERRORS:
        errors = [f.model_dump(mode="json") for f in result.findings if f.severity is Severity.ERROR]
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG, f"node {node_id!r} has errors; it was not saved", details=errors
        )
    body = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    version = await ports.nodes.save_node(node_id, config=body, author=author, note=note, at=ports.clock.now())
    ports.cache.forget_node(node_id)
    return SavedNode(node_id=node_id, version=version, validation=result)


async def node_version(*, node_id: str, version: int | None, nodes: NodeConfigRepository) -> NodeVersion:
    found = await nodes.node_version(node_id, version)
    if found is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no node {node_id!r}" + (f" version {version}" if version else ""))
    return found


async def node_versions(*, node_id: str, nodes: NodeConfigRepository) -> list[NodeVersion]:
    versions = await nodes.node_versions(node_id)
    if not versions:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no node {node_id!r}")
    return versions


async def diff(*, node_id: str, before: int, after: int, nodes: NodeConfigRepository) -> list[Change]:
    """What changed from version `before` to version `after` (the `id` and `version` fields left out)."""
    a = await node_version(node_id=node_id, version=before, nodes=nodes)
    b = await node_version(node_id=node_id, version=after, nodes=nodes)
    ignored = {"id", "version"}
    return config_diff(
        {k: v for k, v in a.config.items() if k not in ignored}, {k: v for k, v in b.config.items() if k not in ignored}
    )


async def rollback(*, node_id: str, to_version: int, author: str | None, ports: AuthoringPorts) -> SavedNode:
    """Make an old version current again; the rollback is itself a new version."""
    old = await node_version(node_id=node_id, version=to_version, nodes=ports.nodes)
    config = GenerationNodeConfig.model_validate(old.config)
    return await save_node(
        node_id=node_id, config=config, author=author, note=f"rollback to version {to_version}", ports=ports
    )
