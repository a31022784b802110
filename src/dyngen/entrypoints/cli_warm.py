"""`dyngen warm GRAPH.json`: generate a scene graph's critical transitions ahead of play.

A progress bar on a terminal (stderr), then the report (stdout; `--json` for JSON). The run is stored, so
an interrupted one resumes with `dyngen warm --resume ID` (items already warm are not generated again).

Exit codes: 0 every item was generated or was already cached; 1 some items failed (the report lists
their error codes) or the run was cancelled; 2 the input cannot be used (unreadable graph, a playthrough
that does not fit it, an unknown run id, a run another process is working on); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dyngen.config import Settings
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph
from dyngen.domain.warmup import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    WarmupCounts,
    WarmupStatus,
    parse_playthrough,
)
from dyngen.entrypoints import interpreter
from dyngen.entrypoints.cli_input import fail as _fail
from dyngen.entrypoints.cli_input import read_graph
from dyngen.entrypoints.cli_options import PlayerId, PlaythroughId, renamed
from dyngen.entrypoints.progress import TerminalProgress
from dyngen.services.authoring import graphs
from dyngen.services.machinery.container import Services
from dyngen.services.warmup import runner
from dyngen.services.warmup import runs as warmup
from dyngen.services.warmup.runs import WarmupReport


def _playthroughs(values: list[str]) -> list[list[str]]:
    """Each `--path` is `scene1,scene2,...`, or a file: JSON (a list of scene ids, or a list of
    such lists) or text (one playthrough per line)."""
    found: list[list[str]] = []
    for value in values:
        path = Path(value)
        if not path.is_file():
            found.append(parse_playthrough(value))
            continue
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            found.extend(p for p in (parse_playthrough(line) for line in text.splitlines()) if p)
            continue
        if isinstance(data, list) and all(isinstance(s, str) for s in data):
            found.append(list(data))
        elif isinstance(data, list) and all(isinstance(p, list) and all(isinstance(s, str) for s in p) for p in data):
            found.extend(list(p) for p in data)
        else:
            raise _fail(f"{path}: a playthrough file holds a list of scene ids, or a list of such lists")
    return [p for p in found if p]


def _show(bar: TerminalProgress, counts: WarmupCounts) -> None:
    failed = sum(counts.failed.values())
    description = f"warming: generated {counts.generated}, cached {counts.cached}, failed {failed}"
    bar.show("warming", done=counts.done, total=counts.total, description=description)


def _print_report(report: WarmupReport, *, resumed_from: str | None) -> None:
    colour = {"complete": typer.colors.GREEN, "failed": typer.colors.RED, "cancelled": typer.colors.YELLOW}
    title = f"warm-up {report.warmup_id} of graph {report.graph_id}: {report.status.value}"
    typer.secho(title, fg=colour.get(report.status.value), bold=True)
    failed = sum(report.failed.values())
    codes = ", ".join(f"{code} {n}" for code, n in report.failed.items())
    rows = [
        ("transitions", str(report.total)),
        ("generated", str(report.generated)),
        ("already cached", str(report.cached)),
        ("failed", f"{failed}" + (f" ({codes})" if codes else "")),
        ("not done", str(report.pending)),
        ("skipped", str(len(report.skipped))),
        ("cost", f"{report.cost:.4f}"),
    ]
    if report.started_at and report.finished_at:
        rows.append(("since start", f"{(report.finished_at - report.started_at).total_seconds():.1f} s"))
    for name, value in rows:
        typer.echo(f"  {name:<15}{value}")
    for skipped in report.skipped:
        typer.echo(f"  skipped {skipped.node_id}: {skipped.reason}")
    if report.status is not WarmupStatus.COMPLETE:
        typer.echo(f"  retry what is not warm: dyngen warm --resume {report.warmup_id}")
    if resumed_from:
        typer.echo(f"  (resumed run {resumed_from})")


def warm(
    *,
    graph_file: Annotated[
        Path | None, typer.Argument(help="A scene graph as JSON.", metavar="GRAPH.json", show_default=False)
    ] = None,
    graph_id: Annotated[
        str | None, typer.Option("--graph-id", help="Warm a stored graph (its current version).")
    ] = None,
    path: Annotated[
        list[str] | None,
        typer.Option(
            "--path",
            help="Scenes in play order (scene1,scene2,...), or a file of such paths; warm only the transitions "
            "on them. Repeatable. Default: every Generation Node, nearest to the start first.",
            show_default=False,
        ),
    ] = None,
    playthrough_id: PlaythroughId = None,
    player_id: PlayerId = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=MAX_CONCURRENCY, help="Provider runs at once (records are written behind them).")
    ] = DEFAULT_CONCURRENCY,
    resume: Annotated[
        str | None, typer.Option(help="Resume the run with this id: generate what it has not warmed yet.", metavar="ID")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (no progress bar).")] = False,
    playthrough: Annotated[
        list[str] | None, typer.Option("--playthrough", hidden=True, help="Deprecated: --path.", show_default=False)
    ] = None,
) -> None:
    """Generate a graph's transitions ahead of play (cached ones are counted, not generated again).

    Per_playthrough and per_player nodes are warmed only for the --playthrough-id / --player-id named
    (else they are skipped).
    """
    path = renamed("--playthrough", "--path", old=playthrough, new=path)
    graph = read_graph(graph_file, command="warm") if graph_file is not None else None
    if graph is not None and graph_id is not None:
        raise _fail("name one graph: GRAPH.json or --graph-id ID")
    if graph is None and graph_id is None and resume is None:
        raise _fail("name a graph: GRAPH.json, --graph-id ID, or --resume RUN_ID")
    paths = _playthroughs(path or [])
    bar = TerminalProgress(enabled=not as_json and sys.stderr.isatty())
    started: list[str] = []  # the run's id, for the message when interrupted

    async def use(services: Services) -> WarmupReport:
        from dyngen.bootstrap_ports import preparer, warmup_ports

        if resume is not None:
            run = await warmup.get_warmup(warmup_id=resume, warmups=services.warmups)
            wanted = graph.id if graph is not None else graph_id
            if wanted is not None and wanted != run.graph_id:
                raise DyngenError(ErrorCode.CONFLICT, f"run {resume} warms graph {run.graph_id!r}, not {wanted!r}")
            warmup_id = run.id
        else:
            version = None
            source = graph
            if source is None:
                assert graph_id is not None
                stored = await graphs.get_graph(graph_id=graph_id, version=None, graphs=services.graphs)
                source, version = SceneGraph.model_validate(stored.body), stored.version
            created = await warmup.create_warmup(
                graph=source,
                graph_version=version,
                playthroughs=paths,
                playthrough_id=playthrough_id,
                player_id=player_id,
                concurrency=concurrency,
                origin=warmup.ORIGIN_CLI,
                preparer=preparer(services),
                warmups=services.warmups,
                clock=services.clock,
            )
            warmup_id = created.id
            if not as_json:
                typer.echo(f"warm-up {warmup_id} (resume with: dyngen warm --resume {warmup_id})", err=True)
        started.append(warmup_id)
        with bar:
            return await runner.run_warmup(
                warmup_id=warmup_id,
                ports=warmup_ports(services),
                progress=lambda counts, _outcome: _show(bar, counts),
                wait_for_lease=resume is not None,
            )

    report = _run(Settings(), use, started)
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        _print_report(report, resumed_from=resume)
    if report.status is not WarmupStatus.COMPLETE:
        raise typer.Exit(1)


def _run(settings: Settings, use: Any, started: list[str]) -> WarmupReport:
    from dyngen.bootstrap import build

    async def main() -> WarmupReport:
        services = await build(settings.unstreamed())
        try:
            with interpreter.long_running():  # a run of many generations, as the API serves them
                result: WarmupReport = await use(services)
            return result
        finally:
            await services.aclose()

    try:
        return interpreter.run(main())
    except DyngenError as exc:
        raise _fail(exc.message, exc.details) from None
    except KeyboardInterrupt:
        run = started[0] if started else "ID"
        typer.secho(f"interrupted: what finished is stored; resume with `dyngen warm --resume {run}`", err=True)
        raise typer.Exit(130) from None
