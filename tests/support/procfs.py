"""Processes as Linux's /proc lists them: which children a process has (a browser, an encoder)."""

from __future__ import annotations

from pathlib import Path


def children(pid: int, *, exited: bool = False) -> list[tuple[int, str]]:
    """The processes whose parent is `pid`, their ids and names; with `exited`, also those that exited and
    wait to be reaped (zombies)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it has gone since the listing
        name, _, rest = stat.partition(" (")[2].rpartition(")")
        state, parent = rest.split()[:2]
        if int(parent) == pid and (exited or state != "Z"):
            found.append((int(entry.name), name))
    return found
