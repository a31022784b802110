"""`dyngen templates list|show`: the template library as the server loads it from DYNGEN_TEMPLATES_DIR.

Exit codes as in `dyngen.entrypoints.cli`: 0 success (`list` too when some files did not load: it lists
them), 2 the input cannot be used (an unknown template id).
"""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

from dyngen.config import Settings
from dyngen.domain.errors import DyngenError
from dyngen.services.authoring import templates
from dyngen.services.machinery.template_library import TemplateLibrary

templates_app = typer.Typer(
    help="The template library (DYNGEN_TEMPLATES_DIR): list the templates and broken files, show one.",
    no_args_is_help=True,
)


def _library(settings: Settings) -> TemplateLibrary:
    from dyngen.bootstrap import load_templates

    # These commands print the problems themselves; the service's warnings would repeat them on stderr.
    logging.getLogger("dyngen.templates").setLevel(logging.ERROR)
    return load_templates(settings)


@templates_app.command("list")
def templates_list(as_json: Annotated[bool, typer.Option("--json", help="Print the listing as JSON.")] = False) -> None:
    """List the templates (id, type, version), then every file that did not load, with its field."""
    settings = Settings()
    found = templates.listing(library=_library(settings))
    if as_json:
        typer.echo(json.dumps(found.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2))
        return
    if found.templates:
        width = max(len(t.id) for t in found.templates)
        typer.echo(f"{'ID':<{width}}  {'TYPE':<13} VERSION")
        for t in found.templates:
            typer.echo(f"{t.id:<{width}}  {t.generation_type.value:<13} {t.version}")
    else:
        typer.echo(f"no templates in {settings.templates_dir}")
    if found.problems:
        count = len(found.problems)
        typer.secho(f"\n{count} file{'s' if count != 1 else ''} not loaded:", fg=typer.colors.YELLOW)
        for p in found.problems:
            typer.echo(f"  {p.file}  {p.field}: {p.message}")


@templates_app.command("show")
def templates_show(
    template_id: Annotated[str, typer.Argument(help="The template's id (see `dyngen templates list`).", metavar="ID")],
) -> None:
    """Print one template's config as JSON, in the spec's spelling."""
    try:
        template = _library(Settings()).get(template_id)
    except DyngenError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    config = template.config.model_dump(mode="json", by_alias=True, exclude_none=True)
    typer.echo(json.dumps(config, indent=2, ensure_ascii=False))
