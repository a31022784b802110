"""MkDocs hook (mkdocs.yml `hooks:`): adds the generated reference pages to the site at build time.

The pages come from the code (`dyngen.entrypoints.reference_docs`): the HTTP API from the app's OpenAPI
schema, the configuration from the settings models, the CLI from the Typer app.
"""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files


def on_files(files: Files, config: Any) -> Files:
    from dyngen.config import Settings
    from dyngen.entrypoints.api.app import create_app
    from dyngen.entrypoints.cli import app
    from dyngen.entrypoints.reference_docs import cli_markdown, configuration_markdown, openapi_markdown

    schema = create_app(Settings(database_url="memory://")).openapi()
    pages = {
        "reference/openapi.md": openapi_markdown(schema),
        "reference/configuration.md": configuration_markdown(),
        "reference/cli.md": cli_markdown(app),
    }
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown: str, **_: Any) -> str:
    # docs/dsl.md tags the expectations its test checks as "```json expect"; Markdown's fences take one word.
    return markdown.replace("```json expect\n", "```json\n")
