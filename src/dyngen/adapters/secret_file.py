"""A server secret kept in a file of the data dir: made on first start, read on every later one."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

SECRET_BYTES = 32


def read_or_create_secret(path: Path) -> bytes:
    """The secret in `path`, or a new random one written there first (owner-only permissions).

    Several processes starting at once on one data dir agree: the file is written under a temporary
    name and linked into place, which fails for every process but the first; the others read the winner's.
    """
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(SECRET_BYTES) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    if len(text) < 2 * 16:
        raise ValueError(f"{path} holds no usable secret (delete it to have a new one made)")
    return bytes.fromhex(text)
