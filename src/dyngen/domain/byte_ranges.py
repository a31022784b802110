"""HTTP byte ranges (RFC 9110 section 14): which part of an artifact a `Range` header asks for."""

from __future__ import annotations

import re
from typing import Literal

# ASCII digits only: `str.isdigit()` also takes superscripts and other scripts' digits, which `int()` refuses.
_SINGLE_RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]*)-([0-9]*)\s*", re.ASCII | re.IGNORECASE)
# Any position past this is past the end of every artifact; longer digit strings are not worth converting
# (and `int()` refuses more than 4,300 digits).
_MAX_DIGITS = 18
_BEYOND = 10**_MAX_DIGITS


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else _BEYOND


def byte_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """A single `bytes=a-b`, `a-` or `-n` range of a representation of `size` bytes, as inclusive (first, last).

    Returns:
        None (serve the whole representation) for no header, a malformed one or several ranges, which a
        server may ignore; "unsatisfiable" (416) for a range that starts at or past the end.
    """
    if not header:
        return None
    found = _SINGLE_RANGE.fullmatch(header)
    if found is None:
        return None
    start, end = found.groups()
    if not start and not end:
        return None
    if not start:  # suffix: the last n bytes
        n = _number(end)
        return (max(0, size - n), size - 1) if n > 0 and size > 0 else "unsatisfiable"
    first = _number(start)
    if end and _number(end) < first:
        return None
    last = min(_number(end), size - 1) if end else size - 1
    return (first, last) if first < size else "unsatisfiable"
