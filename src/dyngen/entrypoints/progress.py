"""`TerminalProgress`: the CLI's progress bars (`dyngen warm`, `dyngen export`) on stderr when it is a
terminal; silent otherwise, so a pipe or `--json` gets only the report."""

from __future__ import annotations

from typing import Any


class TerminalProgress:
    """One bar per named task (a phase), each with its count, total, elapsed time and a description."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    def __enter__(self) -> TerminalProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def show(self, name: str, *, done: int, total: int, description: str | None = None, restart: bool = False) -> None:
        """Move the bar of task `name` to `done` of `total` (a new bar for a new name, or with `restart`)."""
        if self._progress is None:
            return
        text = description or name
        if name not in self._tasks or restart:
            self._tasks[name] = self._progress.add_task(text, total=total)
        self._progress.update(self._tasks[name], completed=done, total=total, description=text)
