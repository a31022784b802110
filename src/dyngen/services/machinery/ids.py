"""Ids of what the service stores (generations, artifacts, jobs, reviews, reservations, warm-up runs)."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A fresh id: 32 lowercase hex digits (`scene_images` tells artifact ids by this shape)."""
    return uuid.uuid4().hex
