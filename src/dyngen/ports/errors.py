"""Typed failures a repository port raises, so a use case catches exactly the one it handles."""

from __future__ import annotations

from dyngen.domain.errors import DyngenError, ErrorCode


class RepositoryUnavailable(DyngenError):  # noqa: N818 - a port's failure, named for what happened
    """The store did not answer (after the adapter's own retries). Served as DEPENDENCY_UNAVAILABLE."""

    def __init__(self, message: str = "the database is unreachable") -> None:
        super().__init__(ErrorCode.DEPENDENCY_UNAVAILABLE, message)


class DuplicateIdempotencyKey(Exception):  # noqa: N818 - a port's failure, named for what happened
    """A job was added with an idempotency key another job already holds (the other insert won a race).

    Args:
        key: The idempotency key.
    """

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} is already used by another job")
        self.key = key
