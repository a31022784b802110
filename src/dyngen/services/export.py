"""Export an offline bundle of a scene graph (issue 15 item 5; the format is docs/bundle.md).

A game that ships offline takes the warmed content with it: `export_bundle` warms what is missing (the
warm-up service: one run per named scope, the same plan, cache and provider path as `dyngen warm`), then
reads every exported item's content as a player's request would get it (a cache hit through
`generate_content`), reads its artifacts through the repository and the artifact store, and hands each
file and the manifest to a `BundleSink` (the CLI's writes a folder).

What is exported, per node (its effective strategy, after its template and rules):

- `once`: one item, scope `{}`;
- `per_playthrough` / `per_player`: one item per playthrough id / player id named (none named: none);
- `always`: no item, on purpose: listed in `always_nodes`, the client plays its fallback;
- every node (disabled and failed ones too) has its fallback in `fallbacks`: the response the server
  gives when that node fails (`domain.fallback`, the same code the server runs), with the reason `offline`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from dyngen import __version__
from dyngen.domain import fallback, media
from dyngen.domain.cache_keys import cache_key
from dyngen.domain.contracts import GenerateContentRequest, GenerationStatus, PlayerContext, Strategy
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph, node_request
from dyngen.domain.responses import ArtifactLink, CacheInfo, Cost, ErrorInfo, GenerateContentResponse
from dyngen.domain.warmup import ItemOutcome, ItemStatus, WarmupCounts, WarmupItem, candidates
from dyngen.ports import ArtifactStore, GenerationRepository, GraphRepository, RecordOutbox
from dyngen.services.authoring.graphs import get_graph
from dyngen.services.generation.request import Preparer
from dyngen.services.reporting import records
from dyngen.services.warmup import runs as warmup
from dyngen.services.warmup.plan import plan
from dyngen.services.warmup.runner import GenerateContent, WarmupPorts, run_warmup
from dyngen.services.warmup.runs import WarmupReport

log = logging.getLogger("dyngen.export")

FORMAT = "dyngen-bundle/1"
MANIFEST = "manifest.json"
FILES_DIR = "files"
OFFLINE = "offline"


class BundleSink(Protocol):
    """Where a bundle's files go (a folder for the CLI; paths are relative, `/`-separated)."""

    async def write(self, path: str, data: bytes) -> None: ...


# (phase, done, total): "warming" per warm-up run, then "writing" per exported item.
ExportProgress = Callable[[str, int, int], None]


class NotExported(BaseModel):
    node_id: str
    reason: str


class ExportReport(BaseModel):
    """What `export_bundle` wrote and left out. `complete` when every planned item is in the bundle."""

    status: str
    graph_id: str
    graph_version: int | None
    items: int
    files: int
    bytes: int
    always_nodes: list[str]
    fallbacks: int
    not_exported: list[NotExported]
    failed: dict[str, int]
    warmups: list[WarmupReport]


@dataclass(frozen=True, slots=True)
class _Scope:
    playthrough_id: str | None
    player_id: str | None


def _scopes(playthrough_ids: Sequence[str], player_ids: Sequence[str]) -> list[_Scope]:
    """One warm-up context per named id (a `once` node is the same entry in every one of them)."""
    found = [_Scope(p, None) for p in playthrough_ids] + [_Scope(None, p) for p in player_ids]
    return found or [_Scope(None, None)]


def _effective_strategy(request: GenerateContentRequest, preparer: Preparer) -> Strategy:
    with contextlib.suppress(DyngenError):  # an invalid node keeps its own strategy (it has no item anyway)
        return preparer.resolve(request).request.strategy
    return request.strategy


def _label(scope: _Scope) -> str:
    if scope.playthrough_id:
        return f" for playthrough {scope.playthrough_id}"
    return f" for player {scope.player_id}" if scope.player_id else ""


def _item_scope(strategy: Strategy, context: PlayerContext, scope: _Scope) -> dict[str, str] | None:
    """The bundle scope of a warmed item, or None when it was warmed for no id the caller named (a
    variant of a pool warmed under a made-up id serves nobody offline: clients match ids exactly)."""
    if strategy is Strategy.PER_PLAYTHROUGH:
        named = scope.playthrough_id
        return {"playthrough_id": named} if named and context.playthrough_id == named else None
    if strategy is Strategy.PER_PLAYER:
        named = scope.player_id
        return {"player_id": named} if named and context.player_id == named else None
    return {}


def _file_path(digest: str, media_type: str) -> str:
    extension = media.EXTENSIONS.get(media_type.partition(";")[0].strip().lower(), "bin")
    return f"{FILES_DIR}/{digest[:16]}.{extension}"


async def _files(
    response: GenerateContentResponse,
    *,
    sink: BundleSink,
    written: dict[str, int],
    repository: GenerationRepository,
    outbox: RecordOutbox | None,
    artifacts: ArtifactStore,
) -> tuple[list[dict[str, Any]], GenerateContentResponse]:
    """Write the response's artifacts and return their manifest entries and the response with every URL
    rewritten to its bundle path."""
    entries: list[dict[str, Any]] = []
    paths: dict[str, str] = {}
    links: list[ArtifactLink] = []
    for link in response.artifacts or []:
        artifact_id = media.artifact_id_of(link.url)
        if artifact_id is None:
            raise DyngenError(ErrorCode.NOT_FOUND, f"artifact URL {link.url!r} names no stored artifact")
        record, data = await records.get_artifact(
            artifact_id=artifact_id, repository=repository, outbox=outbox, artifacts=artifacts
        )
        digest = hashlib.sha256(data).hexdigest()
        path = _file_path(digest, record.media_type)
        if path not in written:  # content-addressed: two items sharing a file write it once
            await sink.write(path, data)
            written[path] = len(data)
        paths[artifact_id] = path
        entries.append(
            {"role": link.role, "path": path, "media_type": record.media_type, "sha256": digest, "bytes": len(data)}
        )
        links.append(link.model_copy(update={"url": path, "bytes": len(data)}))
    content = response.content
    if content is not None and (primary := media.artifact_id_of(content.url)) is not None:
        content = content.model_copy(update={"url": paths.get(primary)})
    return entries, response.model_copy(update={"content": content, "artifacts": links or None})


def offline_fallback(request: GenerateContentRequest, *, preparer: Preparer) -> GenerateContentResponse:
    """The response the server gives when the node of `request` fails, with the reason `offline`: its
    fallback content per its (effective) fallback mode, by `domain.fallback` as the server applies it
    (`preparer` resolves the node's template, arm, rules and social context first)."""
    with contextlib.suppress(DyngenError):  # an invalid node falls back as authored
        request = preparer.resolve(request).request
    error = DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"{OFFLINE}: no server, and the bundle has no item")
    payload, info = fallback.apply(request, error, mode=request.fallback.mode, attempts=0)
    try:
        key = cache_key(request)
    except DyngenError:  # a scope id the player context lacks: the fallback does not depend on it
        key = ""
    return GenerateContentResponse(
        status=GenerationStatus.FAILED,
        content=payload,
        cache_key=key,
        cache=CacheInfo(hit=False),
        cost=Cost(tokens=0, time_ms=0.0),
        deterministic=True,
        fallback=info.model_copy(update={"reason": OFFLINE}),
        error=ErrorInfo(code=error.code, message=error.message),
    )


async def _warm(
    *,
    graph: SceneGraph,
    graph_version: int | None,
    scope: _Scope,
    concurrency: int | None,
    progress: ExportProgress | None,
    preparer: Preparer,
    warming: WarmupPorts,
) -> tuple[list[WarmupItem], set[int], WarmupReport]:
    """Warm one scope; the planned items, the positions that are not warm, and the run's report."""
    items, _ = plan(
        graph=graph, playthroughs=(), playthrough_id=scope.playthrough_id, player_id=scope.player_id, preparer=preparer
    )
    run = await warmup.create_warmup(
        graph=graph,
        graph_version=graph_version,
        playthrough_id=scope.playthrough_id,
        player_id=scope.player_id,
        concurrency=concurrency,
        origin=warmup.ORIGIN_CLI,
        preparer=preparer,
        warmups=warming.warmups,
        clock=warming.clock,
    )

    cold: set[int] = set()

    def tick(counts: WarmupCounts, outcome: ItemOutcome | None) -> None:
        if outcome is not None and outcome.status is ItemStatus.FAILED:
            cold.add(outcome.position)
        if progress is not None:
            progress("warming", counts.done, counts.total)

    report = await run_warmup(warmup_id=run.id, ports=warming, progress=tick)
    cold |= {item.position for item in await warming.warmups.pending_items(run.id)}  # never run
    return items, cold, report


@dataclass(slots=True)
class _Tally:
    """What an export found so far: failures by code, nodes left out (with why), items and files written."""

    failed: dict[str, int] = field(default_factory=dict)
    not_exported: dict[str, str] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)  # bundle path -> bytes

    def fail(self, code: str, n: int = 1) -> None:
        self.failed[code] = self.failed.get(code, 0) + n


async def _warm_all(
    *,
    graph: SceneGraph,
    graph_version: int | None,
    scopes: list[_Scope],
    concurrency: int | None,
    progress: ExportProgress | None,
    tally: _Tally,
    preparer: Preparer,
    warming: WarmupPorts,
) -> tuple[list[tuple[_Scope, WarmupItem]], list[WarmupReport]]:
    """Warm every scope; the items that are warm, and each run's report."""
    warmed: list[tuple[_Scope, WarmupItem]] = []
    reports: list[WarmupReport] = []
    for scope in scopes:
        items, cold, report = await _warm(
            graph=graph,
            graph_version=graph_version,
            scope=scope,
            concurrency=concurrency,
            progress=progress,
            preparer=preparer,
            warming=warming,
        )
        reports.append(report)
        for code, n in report.failed.items():
            tally.fail(code, n)
        for item in items:
            if item.position in cold:
                why = f"its warm-up failed{_label(scope)}: the bundle has its fallback"
                tally.not_exported.setdefault(item.node_id, why)
            else:
                warmed.append((scope, item))
    return warmed, reports


async def _export_items(
    *,
    graph: SceneGraph,
    warmed: list[tuple[_Scope, WarmupItem]],
    sink: BundleSink,
    progress: ExportProgress | None,
    tally: _Tally,
    preparer: Preparer,
    generate: GenerateContent,
    repository: GenerationRepository,
    outbox: RecordOutbox | None,
    artifacts: ArtifactStore,
) -> None:
    """Each warm item's content (a cache hit, as a player's request gets it: `generate` is generation's
    front door) and files, once per scope."""
    nodes = {n.id: n for n in graph.generation_nodes()}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for done, (scope, item) in enumerate(warmed, start=1):
        if progress is not None:
            progress("writing", done, len(warmed))
        request = GenerateContentRequest.model_validate(item.request)
        strategy = _effective_strategy(request, preparer)
        bundle_scope = _item_scope(strategy, request.player_context or PlayerContext(), scope)
        identity = (item.node_id, tuple(sorted((bundle_scope or {}).items())))
        if bundle_scope is None or identity in seen:
            continue
        try:
            response = await generate(request=request)
        except DyngenError as exc:  # refused now (a template removed meanwhile, ...): as a failed item
            response = offline_fallback(request, preparer=preparer).model_copy(
                update={"error": ErrorInfo(code=exc.code, message=exc.message)}
            )
        if response.status is not GenerationStatus.COMPLETE or response.content is None:
            code = response.error.code.value if response.error else "UNKNOWN"
            tally.fail(code)
            why = f"not served from the cache ({code}): the bundle has its fallback"
            tally.not_exported.setdefault(item.node_id, why)
            continue
        seen.add(identity)
        files, response = await _files(
            response, sink=sink, written=tally.written, repository=repository, outbox=outbox, artifacts=artifacts
        )
        node = nodes[item.node_id]
        tally.entries.append(
            {
                "node_id": item.node_id,
                "from_scene": node.from_scene,
                "to_scene": node.to_scene,
                "cache_key": response.cache_key,
                "strategy": strategy.value,
                "scope": bundle_scope,
                "kind": response.content.type.value if response.content else None,
                "files": files,
                "response": response.model_dump(mode="json", by_alias=True, exclude_none=True),
            }
        )


def _fallbacks(graph: SceneGraph, *, tally: _Tally, preparer: Preparer) -> tuple[dict[str, Any], list[str]]:
    """Every node's offline fallback, and the `always` nodes (exported as their fallback only)."""
    # Every player's fallback: no ids, so a per-playthrough or per-player node's fallback names no key.
    anyone = PlayerContext()
    fallbacks: dict[str, Any] = {}
    always: list[str] = []
    exported = {e["node_id"] for e in tally.entries}
    for node in candidates(graph):
        request = node_request(graph, node, player_context=anyone)
        fallbacks[node.id] = offline_fallback(request, preparer=preparer).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        strategy = _effective_strategy(request, preparer)
        if not node.config.enabled:
            tally.not_exported.setdefault(node.id, "disabled: the bundle has its fallback")
        elif strategy is Strategy.ALWAYS:
            always.append(node.id)
        elif node.id not in exported:
            tally.not_exported.setdefault(node.id, _why_missing(strategy))
    return fallbacks, always


async def export_bundle(
    *,
    graph: SceneGraph | None = None,
    graph_id: str | None = None,
    version: int | None = None,
    playthrough_ids: Sequence[str] = (),
    player_ids: Sequence[str] = (),
    concurrency: int | None = None,
    sink: BundleSink,
    progress: ExportProgress | None = None,
    graphs: GraphRepository,
    preparer: Preparer,
    warming: WarmupPorts,
    repository: GenerationRepository,
    outbox: RecordOutbox | None,
    artifacts: ArtifactStore,
) -> ExportReport:
    """Warm a graph for the named scopes and write its bundle (files, then `manifest.json`) to `sink`.

    The graph is `graph` (a graph file's; the manifest's version is null) or the stored graph `graph_id`
    (in `graphs`) at `version` (default: its current one). The warm-ups plan with `preparer` and run with
    `warming`; each item is then read through `warming.generate` as a player's request is served, and its
    artifacts from `repository` (or the `outbox`) and `artifacts`.

    Raises:
        DyngenError: NOT_FOUND for an unknown graph id or version, or a warmed item whose artifact is gone
            from the store; GEN_INVALID_CONFIG for a concurrency outside 1..256.
    """
    graph_version: int | None = None
    if graph is None:
        if graph_id is None:
            raise DyngenError(ErrorCode.GEN_INVALID_CONFIG, "name a graph: a scene graph or a stored graph's id")
        stored = await get_graph(graph_id=graph_id, version=version, graphs=graphs)
        graph, graph_version = SceneGraph.model_validate(stored.body), stored.version
    tally = _Tally()
    warmed, reports = await _warm_all(
        graph=graph,
        graph_version=graph_version,
        scopes=_scopes(playthrough_ids, player_ids),
        concurrency=concurrency,
        progress=progress,
        tally=tally,
        preparer=preparer,
        warming=warming,
    )
    await _export_items(
        graph=graph,
        warmed=warmed,
        sink=sink,
        progress=progress,
        tally=tally,
        preparer=preparer,
        generate=warming.generate,
        repository=repository,
        outbox=outbox,
        artifacts=artifacts,
    )
    fallbacks, always = _fallbacks(graph, tally=tally, preparer=preparer)
    manifest = _manifest(
        graph=graph,
        graph_version=graph_version,
        playthrough_ids=playthrough_ids,
        player_ids=player_ids,
        items=tally.entries,
        fallbacks=fallbacks,
        always=always,
        now=warming.clock.now(),
    )
    await sink.write(MANIFEST, manifest)
    report = ExportReport(
        status="complete" if not tally.failed else "failed",
        graph_id=graph.id,
        graph_version=graph_version,
        items=len(tally.entries),
        files=len(tally.written),
        bytes=sum(tally.written.values()),
        always_nodes=always,
        fallbacks=len(fallbacks),
        not_exported=[NotExported(node_id=n, reason=r) for n, r in tally.not_exported.items()],
        failed=dict(sorted(tally.failed.items())),
        warmups=reports,
    )
    log.info(
        "export.finished graph=%s items=%d files=%d bytes=%d failed=%s",
        graph.id,
        report.items,
        report.files,
        report.bytes,
        report.failed,
    )
    return report


def _why_missing(strategy: Strategy) -> str:
    if strategy is Strategy.PER_PLAYTHROUGH:
        return "strategy per_playthrough: name a playthrough id to export it; the bundle has its fallback"
    if strategy is Strategy.PER_PLAYER:
        return "strategy per_player: name a player id to export it; the bundle has its fallback"
    return "not exported: the bundle has its fallback"


def _manifest(
    *,
    graph: SceneGraph,
    graph_version: int | None,
    playthrough_ids: Sequence[str],
    player_ids: Sequence[str],
    items: list[dict[str, Any]],
    fallbacks: dict[str, Any],
    always: list[str],
    now: datetime,
) -> bytes:
    start = graph.start or (graph.scenes[0].id if graph.scenes else None)
    manifest = {
        "format": FORMAT,
        "dyngen_version": __version__,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "graph": {"id": graph.id, "version": graph_version, "start_scene": start},
        "scopes": {"playthrough_ids": list(playthrough_ids), "player_ids": list(player_ids)},
        "items": items,
        "fallbacks": fallbacks,
        "always_nodes": always,
    }
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
