"""The client's exceptions. A node that fails is not one of them: its fallback comes back as data."""

from __future__ import annotations

from typing import Any, Dict, List, Optional


class DyngenError(Exception):
    """Base of every exception this client raises."""


class DyngenHTTPError(DyngenError):
    """The server refused the call (a 4xx other than 429): a bug to fix, not a moment to fall back.

    Attributes:
        status: The HTTP status.
        code: The server's error code (`NOT_FOUND`, `GEN_INVALID_CONFIG`, ...), or None.
        details: The server's findings (field, message, suggestion, ...).
    """

    def __init__(self, status: int, code: Optional[str], message: str, details: Optional[List[Dict[str, Any]]] = None):
        super().__init__(f"HTTP {status} {code or ''}: {message}".replace("  ", " "))
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


class DyngenUnavailableError(DyngenError):
    """No answer after every retry: refused, timed out, 429 or 5xx. `play_node` turns it into a fallback.

    Attributes:
        reason: `timeout`, `unreachable` or `http <status>`.
        status: The last HTTP status, or None when no answer came.
        retry_after: The last `Retry-After` the server asked for, in seconds, or None.
        retryable: False for an answer that another attempt would not change (a 500).
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        status: Optional[int] = None,
        retry_after: Optional[float] = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable


class BundleError(DyngenError):
    """The offline bundle cannot be read at all (no manifest, unknown format)."""
