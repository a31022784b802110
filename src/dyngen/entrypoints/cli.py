"""The `dyngen` command: serve, generate, validate, key, play, migrate, keys (API keys), gc (retention).

Every command calls the same service functions as the HTTP API. Exit codes: 0 success, 1 the input is
valid but has validation errors (`validate`), 2 the input cannot be used (unreadable, malformed, refused).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from dyngen import __version__
from dyngen.config import Settings
from dyngen.domain.access import AuthMode, Scope, is_loopback
from dyngen.domain.cache_keys import cache_key
from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig, PlayerContext, SceneRef, Severity
from dyngen.domain.errors import GENERATION_FAILURES, DyngenError, ErrorCode
from dyngen.domain.responses import GenerateContentResponse
from dyngen.domain.wire import load
from dyngen.entrypoints import interpreter
from dyngen.entrypoints.cli_config import ConfigOption, config_app, stop_on_problems
from dyngen.entrypoints.cli_dsl import dsl_app
from dyngen.entrypoints.cli_export import FolderSink, export_command
from dyngen.entrypoints.cli_gc import gc
from dyngen.entrypoints.cli_input import fail as _fail
from dyngen.entrypoints.cli_input import read_graph
from dyngen.entrypoints.cli_input import read_json as _read_json
from dyngen.entrypoints.cli_options import OldPlayer, OldPlaythrough, PlayerId, PlaythroughId, renamed
from dyngen.entrypoints.cli_templates import templates_app
from dyngen.entrypoints.cli_warm import warm
from dyngen.entrypoints.logs import configure_logging
from dyngen.services.access import keys as access
from dyngen.services.authoring import validation
from dyngen.services.generation import files, front_door
from dyngen.services.machinery.container import Services
from dyngen.services.play import walk as play

T = TypeVar("T")

app = typer.Typer(
    name="dyngen",
    help="Dynamic content generation for narrative games.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"dyngen {__version__}")
        raise typer.Exit


@app.callback()
def main(
    ctx: typer.Context,
    config: ConfigOption = None,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Dynamic content generation for narrative games."""
    if config is not None:  # every Settings() of this process, and of the workers it starts, reads it
        os.environ["DYNGEN_CONFIG"] = str(config)
    # A broken configuration (the file, the settings' values, the provider instances): every problem with
    # its line and exit code 2, for every command (`serve` checks it itself; `config` reports it).
    if ctx.invoked_subcommand not in ("config", "serve"):
        stop_on_problems()


def _with_services(settings: Settings, use: Callable[[Services], Awaitable[T]]) -> T:
    from dyngen.bootstrap import build

    async def run() -> T:
        services = await build(settings.unstreamed())
        try:
            return await use(services)
        finally:
            await services.aclose()

    try:
        return asyncio.run(run())
    except DyngenError as exc:
        raise _fail(exc.message, exc.details) from None


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="API processes sharing the port (use Redis with more than 1).")
    ] = 1,
    log_level: Annotated[str | None, typer.Option(help="Log level (default from DYNGEN_LOG_LEVEL).")] = None,
) -> None:
    """Serve the HTTP API (and the editor, once built)."""
    import uvicorn

    from dyngen.entrypoints.api.http_server import CoalescingHttpToolsProtocol

    settings = stop_on_problems()  # a broken dyngen.toml: every problem with its line, exit code 2
    level = (log_level or settings.log_level).lower()
    configure_logging(level)
    if settings.is_sqlite:
        # Migrate once here, before any worker starts, so workers never race on the schema.
        _migrate(settings)
    _share_metrics(settings, fresh=True)
    if not is_loopback(host):
        if settings.auth == AuthMode.OFF:
            typer.secho(
                f"warning: DYNGEN_AUTH=off: anyone who can reach {host} can use the API",
                fg=typer.colors.YELLOW,
                err=True,
            )
        else:
            _with_services(settings, lambda s: access.check_bind(host=host, keys=s.keys, mode=s.options.auth))
    if workers > 1 and settings.is_memory:
        typer.secho(
            "warning: DYNGEN_DATABASE_URL=memory:// gives each worker its own records, lost when it exits",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if workers > 1 and not settings.redis_url:
        typer.secho(
            "warning: several workers without DYNGEN_REDIS_URL share no cache tier, lease or invalidation",
            fg=typer.colors.YELLOW,
            err=True,
        )
    where = "memory, lost at exit" if settings.is_memory else settings.data_dir.resolve()
    typer.echo(f"dyngen serving on http://{host}:{port} ({workers} worker(s), data in {where})")
    uvicorn.run(
        "dyngen.entrypoints.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=level,
        access_log=False,
        http=CoalescingHttpToolsProtocol,  # an answer's head and body in one write (api/http_server.py)
    )


def _share_metrics(settings: Settings, *, fresh: bool) -> None:
    """Point prometheus_client's multiprocess mode at one folder for every process of this machine.

    Must run before anything imports prometheus_client (it reads the variable at import). `serve`
    starts from an empty folder; a `worker` joins whatever is there.
    """
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.data_dir.resolve() / "metrics")
    folder.mkdir(parents=True, exist_ok=True)
    if fresh:
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _migrate(settings: Settings) -> str | None:
    if settings.is_memory:
        return "memory (an in-memory database has no schema to migrate)"
    from dyngen.bootstrap import migrate

    return asyncio.run(migrate(settings))


@app.command()
def worker(
    log_level: Annotated[str | None, typer.Option(help="Log level (default from DYNGEN_LOG_LEVEL).")] = None,
) -> None:
    """Run generation jobs from the queue (scaled mode: needs DYNGEN_REDIS_URL). Stop with Ctrl-C/SIGTERM."""
    settings = Settings()
    _share_metrics(settings, fresh=False)
    from dyngen.entrypoints.worker import run_worker

    settings = Settings()
    configure_logging(log_level or settings.log_level)
    try:
        interpreter.run(run_worker(settings))
    except DyngenError as exc:
        raise _fail(exc.message, exc.details) from None


@app.command()
def migrate() -> None:
    """Apply the database migrations (serve does this on start for SQLite)."""
    typer.echo(f"database at revision {_migrate(Settings())}")


@app.command()
def generate(
    request_file: Annotated[Path, typer.Argument(help="A GenerateContentRequest as JSON.", metavar="REQUEST.json")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the content's files (video, poster, captions, script) and response.json to this folder "
            "(created) and print their paths.",
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """Generate content for a request, as POST /api/generate-content would, and print the response."""
    try:
        request = load(GenerateContentRequest, _read_json(request_file))
    except DyngenError as exc:
        raise _fail(exc.message, exc.details) from None
    from dyngen.bootstrap_ports import generation_ports

    if out is None:
        response = _with_services(
            Settings(), lambda s: front_door.generate_content(request=request, ports=generation_ports(s))
        )
        _emit(response.model_dump(mode="json", by_alias=True, exclude_none=True))
        return
    if out.exists() and not out.is_dir():
        raise _fail(f"{out} exists and is not a folder")
    folder = out.resolve()
    _, written = _with_services(
        Settings(), lambda s: files.generate_files(request=request, sink=FolderSink(folder), ports=generation_ports(s))
    )
    for file in written:  # one path a line, on stdout: `dyngen generate R.json --out d | xargs ...`
        typer.echo(str(folder / file.path))
    typer.secho(
        f"wrote {len(written)} file(s) to {folder}: " + ", ".join(f"{f.role} ({f.bytes} bytes)" for f in written),
        err=True,
    )


@app.command()
def validate(
    config_file: Annotated[Path, typer.Argument(help="A GenerationNodeConfig as JSON.", metavar="CONFIG.json")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check a node config; exit 1 when it has errors."""
    try:
        config = load(GenerationNodeConfig, _read_json(config_file))
    except DyngenError as exc:
        raise _fail(exc.message, exc.details) from None
    result = validation.validate_node(config=config)
    if as_json:
        _emit(result.model_dump(mode="json", by_alias=True, exclude_none=True))
    else:
        colour = {"ok": typer.colors.GREEN, "warnings": typer.colors.YELLOW, "errors": typer.colors.RED}
        typer.secho(f"{config_file}: {result.status.value}", fg=colour.get(result.status.value), bold=True)
        for f in result.findings:
            typer.echo(f"  {f.severity.value:<10} {f.code:<32} {f.field}: {f.message}")
        typer.echo(f"  complexity {result.complexity:g}")
    if any(f.severity is Severity.ERROR for f in result.findings):
        raise typer.Exit(1)


@app.command()
def key(
    *,
    config_file: Annotated[
        Path, typer.Argument(help="A GenerationNodeConfig (or request) as JSON.", metavar="CONFIG.json")
    ],
    playthrough_id: PlaythroughId = None,
    player_id: PlayerId = None,
    from_scene: Annotated[str | None, typer.Option("--from", help="From-scene id.")] = None,
    to_scene: Annotated[str | None, typer.Option("--to", help="To-scene id.")] = None,
    playthrough: OldPlaythrough = None,
    player: OldPlayer = None,
) -> None:
    """Print the cache key a node gets for a playthrough / player."""
    playthrough = renamed("--playthrough", "--playthrough-id", old=playthrough, new=playthrough_id)
    player = renamed("--player", "--player-id", old=player, new=player_id)
    data = _read_json(config_file)
    try:
        if isinstance(data, dict) and "type" in data:
            request = load(GenerateContentRequest, data)
        else:
            config = load(GenerationNodeConfig, data)
            request = GenerateContentRequest.for_node(config)
        context = request.player_context or PlayerContext()
        request = request.model_copy(
            update={
                "player_context": context.model_copy(
                    update={
                        "playthrough_id": playthrough or context.playthrough_id,
                        "player_id": player or context.player_id,
                    }
                ),
                "from_scene": SceneRef(id=from_scene) if from_scene else request.from_scene,
                "to_scene": SceneRef(id=to_scene) if to_scene else request.to_scene,
            }
        )
        typer.echo(cache_key(request))
    except DyngenError as exc:
        raise _fail(exc.message, exc.details) from None


def _print_response(response: GenerateContentResponse, to_title: str) -> None:
    if response.error is not None:
        cache = f"failed ({response.error.code.value})"
    elif response.cache.hit:
        cache = f"cache hit ({response.cache.tier})"
    else:
        cache = "generated"
    typer.secho(
        f"  🎲 {cache}, seed {response.seed}, {response.cost.time_ms:.1f} ms, key {response.cache_key}",
        fg=typer.colors.CYAN,
    )
    if response.fallback is not None and response.fallback.applied:
        typer.secho(f"  ⚠ fallback {response.fallback.mode.value}: {response.fallback.reason}", fg=typer.colors.YELLOW)
    content = response.content
    if content is None:
        typer.echo(f"  (jump cut to {to_title})")
        return
    if content.content_id:
        typer.echo(f"  [authored content {content.content_id}]")
    if content.beats:
        for beat in content.beats:
            who = f"{beat.speaker}: " if beat.speaker else ""
            typer.echo(f"  {beat.start:6.1f}s  {who}{beat.text}")
    elif content.dialogue:
        for line in content.dialogue:
            typer.echo(f"          {line}")


@app.command("play")
def play_graph(
    *,
    graph_file: Annotated[Path, typer.Argument(help="A scene graph as JSON.", metavar="GRAPH.json")],
    playthrough_id: Annotated[
        str | None, typer.Option("--playthrough-id", help="The playthroughId for this run (default: demo).")
    ] = None,
    player_id: PlayerId = None,
    fail: Annotated[
        str | None, typer.Option(help="Force generation to fail with this code (e.g. GEN_TIMEOUT).")
    ] = None,
    playthrough: OldPlaythrough = None,
    player_old: OldPlayer = None,
) -> None:
    """Walk a scene graph and print what the player would see, fallbacks included."""
    playthrough = renamed("--playthrough", "--playthrough-id", old=playthrough, new=playthrough_id) or "demo"
    player = renamed("--player", "--player-id", old=player_old, new=player_id)
    graph = read_graph(graph_file, command="play")
    fail_with: ErrorCode | None = None
    if fail is not None:
        try:
            fail_with = ErrorCode(fail)
        except ValueError:
            raise _fail(f"unknown error code {fail!r}; use one of {', '.join(sorted(GENERATION_FAILURES))}") from None
        if not fail_with.is_generation_failure:
            raise _fail(f"{fail} is not a generation failure code")
    from dyngen.bootstrap_ports import generation_ports

    steps = _with_services(
        Settings(),
        lambda s: play.play(
            graph=graph, playthrough_id=playthrough, player_id=player, fail_with=fail_with, ports=generation_ports(s)
        ),
    )
    for step in steps:
        if isinstance(step, play.SceneStep):
            scene = step.scene
            typer.secho(f"▶ {scene.title or scene.id}", bold=True, nl=False)
            typer.echo(f"  ({scene.mood or 'no mood'}) {scene.summary or ''}")
        else:
            typer.secho(f"… {step.node.id}: {step.node.from_scene} → {step.node.to_scene}", fg=typer.colors.MAGENTA)
            _print_response(step.response, graph.scene(step.node.to_scene).title or step.node.to_scene)


keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(templates_app, name="templates")
app.add_typer(dsl_app, name="dsl")
app.add_typer(config_app, name="config")
app.command("warm")(warm)
app.command("gc")(gc)
app.command("export")(export_command)


@keys_app.command("create")
def keys_create(
    scope: Annotated[Scope, typer.Option(help="runtime (games), editor (+ tools), admin (+ keys, metrics).")],
    name: Annotated[str | None, typer.Option(help="Who or what uses the key (default: the scope).")] = None,
) -> None:
    """Create a key and print it (on stdout, alone): it is shown only this once."""
    label = name or f"{scope.value} key"
    key, plaintext = _with_services(
        Settings(), lambda s: access.create_key(name=label, scope=scope, keys=s.keys, cache=s.key_cache, clock=s.clock)
    )
    typer.echo(plaintext)
    typer.secho(
        f"created {key.scope} key {key.id} ({key.name}). Store it now in your secret store: it cannot be shown "
        "again. Clients send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
        fg=typer.colors.YELLOW,
        err=True,
    )


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False) -> None:
    """List the keys (never the keys themselves), revoked ones included."""
    found = _with_services(Settings(), lambda s: access.list_keys(keys=s.keys))
    if as_json:
        _emit(
            [
                {
                    **dataclasses.asdict(k),
                    "created_at": k.created_at.isoformat(),
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                }
                for k in found
            ]
        )
        return
    if not found:
        typer.echo(f"no API keys; create one with `{access.CREATE_HINT}`")
    for k in found:
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        typer.echo(f"{k.id}  {k.scope:<8} {state:<24} {k.created_at:%Y-%m-%d %H:%M}  {k.name}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `dyngen keys list`).", metavar="ID")],
) -> None:
    """Revoke a key: requests with it get 401 (at once here, within DYNGEN_AUTH_CACHE_S in running servers)."""
    key = _with_services(
        Settings(),
        lambda s: access.revoke_key(key_id=key_id, keys=s.keys, cache=s.key_cache, clock=s.clock, mode=s.options.auth),
    )
    assert key.revoked_at is not None
    typer.echo(f"revoked {key.scope} key {key.id} ({key.name}) at {key.revoked_at:%Y-%m-%d %H:%M:%S}")
