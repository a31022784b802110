"""Ids of what the service stores (generations, artifacts, jobs, reviews, reservations, warm-up runs)."""

from __future__ import annotations

import os

# A random (version 4) UUID's version and variant bits, as `uuid.uuid4` sets them.
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (0x4000 << 64) | (0x8000 << 48)


def new_id() -> str:
    """A fresh id: 32 lowercase hex digits (`scene_images` tells artifact ids by this shape), a random
    UUID's (version 4), as `uuid.uuid4().hex` makes it without building a `UUID` on every miss."""
    return f"{int.from_bytes(os.urandom(16)) & _CLEAR | _SET:032x}"
