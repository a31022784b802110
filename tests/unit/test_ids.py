"""Ids of stored things: 32 lowercase hex digits of a random (version 4) UUID."""

from __future__ import annotations

import uuid

from dyngen.services.machinery.ids import new_id


def test_an_id_is_the_hex_of_a_version_4_uuid() -> None:
    ids = [new_id() for _ in range(2000)]

    for made in ids:
        parsed = uuid.UUID(hex=made)
        assert (parsed.hex, parsed.version, parsed.variant) == (made, 4, uuid.RFC_4122)
    assert len(set(ids)) == len(ids)
    # Every random digit takes every value: nothing but the version and variant bits is fixed.
    assert all(len({made[i] for made in ids}) == 16 for i in range(32) if i not in (12, 16))
