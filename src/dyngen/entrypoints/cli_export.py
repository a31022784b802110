"""`dyngen export GRAPH_ID|GRAPH.json --out DIR`: an offline bundle of a graph (docs/bundle.md).

Warms what is missing (as `dyngen warm`), then writes `DIR/manifest.json` and `DIR/files/`. A progress
bar on a terminal (stderr), then the report (stdout; `--json` for JSON).

Exit codes, as `dyngen warm`: 0 every planned item is in the bundle; 1 some items failed (the bundle is
written, those nodes have their fallback only; the report lists the error codes); 2 the input cannot be
used (unreadable graph, unknown graph id or version, an output folder that is not empty); 130 interrupted.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dyngen.config import Settings
from dyngen.domain.errors import DyngenError
from dyngen.domain.graph import SceneGraph
from dyngen.domain.warmup import MAX_CONCURRENCY
from dyngen.entrypoints.cli_input import fail as _fail
from dyngen.entrypoints.cli_input import read_graph
from dyngen.entrypoints.cli_options import renamed
from dyngen.entrypoints.progress import TerminalProgress
from dyngen.services import export
from dyngen.services.export import ExportReport
from dyngen.services.machinery.container import Services


class FolderSink:
    """Writes a bundle's files under `root` (each file written whole, then renamed into place)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def write(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(data)
        partial.replace(target)


def _print_report(report: ExportReport, out: Path) -> None:
    colour = typer.colors.GREEN if report.status == "complete" else typer.colors.RED
    version = f" version {report.graph_version}" if report.graph_version is not None else ""
    typer.secho(f"bundle of graph {report.graph_id}{version}: {report.status}", fg=colour, bold=True)
    codes = ", ".join(f"{code} {n}" for code, n in report.failed.items())
    rows = [
        ("folder", str(out)),
        ("items", str(report.items)),
        ("files", f"{report.files} ({report.bytes} bytes)"),
        ("fallbacks", str(report.fallbacks)),
        (
            "always nodes",
            str(len(report.always_nodes)) + (f" ({', '.join(report.always_nodes)})" if report.always_nodes else ""),
        ),
        ("failed", f"{sum(report.failed.values())}" + (f" ({codes})" if codes else "")),
        ("warm-ups", ", ".join(f"{w.warmup_id} generated {w.generated} cached {w.cached}" for w in report.warmups)),
    ]
    for name, value in rows:
        typer.echo(f"  {name:<14}{value}")
    for missing in report.not_exported:
        typer.echo(f"  fallback only {missing.node_id}: {missing.reason}")


def export_command(
    *,
    graph: Annotated[
        str, typer.Argument(help="A stored graph's id, or a scene graph as JSON.", metavar="GRAPH_ID|GRAPH.json")
    ],
    out: Annotated[Path, typer.Option("--out", help="The bundle folder (created; must be empty).")],
    playthrough_id: Annotated[
        list[str] | None,
        typer.Option("--playthrough-id", help="Export per_playthrough nodes for this playthroughId. Repeatable."),
    ] = None,
    player_id: Annotated[
        list[str] | None,
        typer.Option("--player-id", help="Export per_player nodes for this playerId. Repeatable."),
    ] = None,
    graph_version: Annotated[
        int | None,
        typer.Option("--graph-version", min=1, help="The stored graph's version (default: its current one)."),
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=MAX_CONCURRENCY, help="Provider runs at once.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (no progress bar).")] = False,
    old_version: Annotated[
        int | None, typer.Option("--version", min=1, hidden=True, help="Deprecated: --graph-version.")
    ] = None,
) -> None:
    """Warm a graph and write an offline bundle: manifest.json and its files (docs/bundle.md)."""
    version = renamed("--version", "--graph-version", old=old_version, new=graph_version)
    source: SceneGraph | None = None
    path = Path(graph)
    if path.suffix.lower() == ".json" and not path.is_file():
        raise _fail(f"cannot read {path}: no such file")
    if path.is_file():
        if version is not None:
            raise _fail("--graph-version names a stored graph's version; GRAPH.json is one version already")
        source = read_graph(path, command="export")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise _fail(f"{out} exists and is not an empty folder")
    bar = TerminalProgress(enabled=not as_json and sys.stderr.isatty())

    async def use(services: Services) -> ExportReport:
        from dyngen.bootstrap_ports import preparer, warmup_ports

        with bar:
            return await export.export_bundle(
                graph=source,
                graph_id=graph if source is None else None,
                version=version,
                playthrough_ids=playthrough_id or [],
                player_ids=player_id or [],
                concurrency=concurrency,
                sink=FolderSink(out),
                progress=lambda phase, done, total: bar.show(
                    phase, done=done, total=total, restart=phase == "warming" and done == 0
                ),
                graphs=services.graphs,
                preparer=preparer(services),
                warming=warmup_ports(services),
                repository=services.repository,
                outbox=services.outbox,
                artifacts=services.artifacts,
            )

    report = _run(Settings(), use)
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        _print_report(report, out)
    if report.status != "complete":
        raise typer.Exit(1)


def _run(settings: Settings, use: Any) -> ExportReport:
    from dyngen.bootstrap import build

    async def main() -> ExportReport:
        services = await build(settings.unstreamed())
        try:
            result: ExportReport = await use(services)
            return result
        finally:
            await services.aclose()

    try:
        return asyncio.run(main())
    except DyngenError as exc:
        raise _fail(exc.message) from None
    except KeyboardInterrupt:
        typer.secho("interrupted: the bundle is incomplete; what was warmed stays cached", err=True)
        raise typer.Exit(130) from None
