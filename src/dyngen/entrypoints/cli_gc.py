"""`dyngen gc`: one retention sweep, or with --dry-run what it would remove.

Exit codes as every command: 0 done (even when nothing was due), 2 it could not run (a dependency down,
a database that cannot be opened).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from dyngen.config import Settings
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.services import retention
from dyngen.services.retention import SweepReport


def _describe(report: SweepReport) -> str:
    verb = "would remove" if report.dry_run else "removed"
    strategies = ", ".join(f"{name} {count}" for name, count in sorted(report.by_strategy.items())) or "none"
    return "\n".join(
        [
            f"gc {verb}: {report.generations} generations ({strategies}; {report.failed} failed)",
            f"  artifacts: {report.artifacts} records, {report.objects} objects, {report.bytes} bytes",
            f"  events: {report.events}   warm-up runs: {report.warmups}",
            f"  kept though past their window (still served or named): {report.kept}",
        ]
    )


def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Remove generation records, artifacts and events past their retention window (DYNGEN_RETENTION__*).

    Content that a cache entry, a scene graph, a node config or a review still refers to is kept. Objects
    are deleted DYNGEN_RETENTION__OBJECT_GRACE_S after their records, once checked again.
    """
    from dyngen.bootstrap import build

    settings = Settings()

    async def run() -> SweepReport:
        services = await build(settings)
        try:
            if services.retention is None:
                raise DyngenError(ErrorCode.GEN_INVALID_CONFIG, "this set-up has no retention repository")
            return await retention.sweep(
                policy=services.options.retention,
                repository=services.retention,
                cache=services.cache,
                artifacts=services.artifacts,
                clock=services.clock,
                cache_ttl_s=services.options.cache_ttl_s,
                probes=services.probes,
                dry_run=dry_run,
            )
        finally:
            await services.aclose()

    try:
        report = asyncio.run(run())
    except DyngenError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else _describe(report))
    if settings.is_memory and not as_json:
        # Records in memory belong to the process that made them: a server sweeps its own periodically.
        typer.echo("  (memory mode: this command sees only its own records; a server sweeps its own)")
