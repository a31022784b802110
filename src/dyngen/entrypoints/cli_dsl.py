"""`dyngen dsl compile|check`: the rule DSL from the command line (the service behind POST /api/dsl/compile).

Exit codes as for the rest of the CLI: 0 success, 1 the rules have errors (`check --strict`: or
warnings), 2 a file cannot be used (unreadable, not UTF-8, a malformed context).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dyngen.domain.errors import DyngenError
from dyngen.services.authoring import dsl

dsl_app = typer.Typer(
    help="Rule DSL (docs/dsl.md): compile rules to node-config overrides, or lint them.", no_args_is_help=True
)


def _fail(message: str, details: list[dict[str, Any]] | None = None) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    for detail in details or []:
        typer.echo(f"  - {detail.get('field', '')}: {detail.get('message', '')}", err=True)
    return typer.Exit(2)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise _fail(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from None


def _read_context(path: Path) -> dsl.DslContext:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise _fail(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    try:
        return dsl.load_context(data)
    except DyngenError as exc:
        raise _fail(f"{path}: {exc.message}", exc.details) from None


@dsl_app.command("compile")
def compile_rules(
    rules_file: Annotated[Path, typer.Argument(help="Rules in the DSL.", metavar="FILE")],
    context: Annotated[
        Path | None,
        typer.Option(
            "--context",
            help="A player context as JSON, or {player_context, social_context}.",
            metavar="CONTEXT.json",
        ),
    ] = None,
) -> None:
    """Print {overrides, warnings, errors} as JSON, as POST /api/dsl/compile answers; exit 1 on errors."""
    source = _read_text(rules_file)
    found = _read_context(context) if context is not None else dsl.DslContext()
    result = dsl.compile_and_evaluate(
        source=source, player_context=found.player_context, social_context=found.social_context
    )
    typer.echo(
        json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2, ensure_ascii=False)
    )
    if result.errors:
        raise typer.Exit(1)


@dsl_app.command("check")
def check(
    rules_file: Annotated[Path, typer.Argument(help="Rules in the DSL.", metavar="FILE")],
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
) -> None:
    """Lint rules: each error and warning with line:column and the line it is on; exit 1 on errors."""
    result = dsl.lint(source=_read_text(rules_file))
    found = [("error", d) for d in result.errors] + [("warning", d) for d in result.warnings]
    for severity, d in sorted(found, key=lambda pair: (pair[1].line, pair[1].column)):
        colour = typer.colors.RED if severity == "error" else typer.colors.YELLOW
        typer.secho(f"{rules_file}:{d.line}:{d.column}: {severity}: {d.message} [{d.code}]", fg=colour)
        for line in d.excerpt.split("\n"):
            typer.echo(f"    {line}")
    if not found:
        typer.secho(f"{rules_file}: ok", fg=typer.colors.GREEN)
    else:
        errors, warnings = len(result.errors), len(result.warnings)
        typer.echo(f"{rules_file}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}")
    if result.errors or (strict and result.warnings):
        raise typer.Exit(1)
