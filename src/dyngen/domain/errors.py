"""One enum of error codes, carried by one exception type.

Every entry point maps a `DyngenError` to its own surface exactly once: the HTTP API to a status code
and a JSON body, the CLI to an exit code and a message.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every failure dyngen reports, by name.

    The `GEN_*` codes describe a generation that did not produce usable content; the node's fallback
    runs for them. The others describe a request that cannot be served as asked.
    """

    GEN_TIMEOUT = "GEN_TIMEOUT"
    GEN_CONSTRAINT_FAIL = "GEN_CONSTRAINT_FAIL"
    GEN_PROVIDER_UNAVAILABLE = "GEN_PROVIDER_UNAVAILABLE"
    GEN_EMPTY_OUTPUT = "GEN_EMPTY_OUTPUT"
    GEN_INVALID_CONFIG = "GEN_INVALID_CONFIG"
    GEN_CANCELLED = "GEN_CANCELLED"
    GEN_WORKER_LOST = "GEN_WORKER_LOST"
    GEN_BUDGET_EXCEEDED = "GEN_BUDGET_EXCEEDED"
    GEN_RATE_LIMITED = "GEN_RATE_LIMITED"
    UNAUTHORIZED = "UNAUTHORIZED"
    CONFLICT = "CONFLICT"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"

    @property
    def is_generation_failure(self) -> bool:
        """True for the codes a provider run can end with (the ones a fallback answers)."""
        return self in GENERATION_FAILURES

    @property
    def retryable(self) -> bool:
        """True when trying the same generation again may succeed."""
        return self in {ErrorCode.GEN_TIMEOUT, ErrorCode.GEN_PROVIDER_UNAVAILABLE, ErrorCode.GEN_EMPTY_OUTPUT}


GENERATION_FAILURES = frozenset(
    {
        ErrorCode.GEN_TIMEOUT,
        ErrorCode.GEN_CONSTRAINT_FAIL,
        ErrorCode.GEN_PROVIDER_UNAVAILABLE,
        ErrorCode.GEN_EMPTY_OUTPUT,
        # Refused before the provider was called (budget spent, always-fresh node over its rate limit).
        ErrorCode.GEN_BUDGET_EXCEEDED,
        ErrorCode.GEN_RATE_LIMITED,
    }
)


class DyngenError(Exception):
    """A failure with a code, a human message and optional structured details.

    Args:
        code: What went wrong, from `ErrorCode`.
        message: One sentence a user can act on.
        details: Structured extras (validation findings, the missing field, ...), JSON-serialisable.
        retry_after_s: For GEN_RATE_LIMITED: seconds until the request would be admitted.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or []
        self.retry_after_s = retry_after_s
