"""What a local object folder holds (`LocalObjectStore`), read behind the store's back as an operator would:
the rows of its pack and its files."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from dyngen.adapters.storage.pack import FILE_NAME as PACK_FILE


def stored(folder: Path, prefix: str) -> dict[str, int]:
    """Name -> size of every object whose name starts with `prefix` (`artifacts/`): pack rows and files."""
    found: dict[str, int] = {}
    if (folder / PACK_FILE).exists():
        with closing(sqlite3.connect(folder / PACK_FILE)) as pack:
            rows = pack.execute(
                "SELECT key, length(data) FROM objects WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
            )
            found.update(rows.fetchall())
    for path in folder.rglob("*"):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name.startswith(prefix) and not name.startswith(PACK_FILE):
            found[name] = path.stat().st_size
    return found
