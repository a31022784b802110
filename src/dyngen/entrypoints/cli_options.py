"""Options that mean the same thing in every `dyngen` command, and the old spellings kept for one release.

One vocabulary: `--playthrough-id` and `--player-id` name the ids (play, key, warm, export); `--path` is a
list of scenes in play order (warm); `--graph-id` a stored graph; `--graph-version` its version. Renamed
options stay as hidden aliases for one more release, each printing a deprecation note on stderr.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import typer

from dyngen.entrypoints.cli_input import fail

T = TypeVar("T")

PlaythroughId = Annotated[
    str | None, typer.Option("--playthrough-id", help="The playthroughId (per_playthrough nodes).", show_default=False)
]
PlayerId = Annotated[str | None, typer.Option("--player-id", help="The playerId (per_player nodes).")]
OldPlaythrough = Annotated[
    str | None, typer.Option("--playthrough", hidden=True, help="Deprecated: --playthrough-id.", show_default=False)
]
OldPlayer = Annotated[str | None, typer.Option("--player", hidden=True, help="Deprecated: --player-id.")]


def renamed(old_flag: str, new_flag: str, *, old: T | None, new: T | None) -> T | None:
    """The value given under the new spelling or the old one (with a note on stderr); exit 2 for both."""
    if old is None or (isinstance(old, list) and not old):
        return new
    typer.secho(
        f"warning: {old_flag} is deprecated and will be removed after the next release; use {new_flag}",
        fg=typer.colors.YELLOW,
        err=True,
    )
    if new is not None and not (isinstance(new, list) and not new):
        raise fail(f"{old_flag} is the old spelling of {new_flag}: give one of them")
    return old
