"""`S3ObjectStore`: objects in any S3-compatible store (AWS S3, MinIO, R2, Ceph) through aiobotocore.

Every call has a deadline: the connect timeout, and the operation timeout as botocore's read timeout
(the longest the store may stay silent; a large upload that makes progress is not cut off), with no
retry inside the call (the artifact spool is the retry of an upload). A store that is down or never
answers fails a call with `DEPENDENCY_UNAVAILABLE` within that deadline; then the cooldown fails every
call at once, and one probe per cooldown (`Cooldown`) finds out whether it answers again.

An upload also gets a deadline of its own: botocore asks for `Expect: 100-continue`, and aiohttp waits for
the `100 Continue` with no timeout at all (its read timeout starts once the body is sent), so a store that
accepts and never answers would hold a PUT forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import ClientError

from dyngen.adapters.cooldown import Cooldown
from dyngen.domain.errors import DyngenError, ErrorCode

T = TypeVar("T")
log = logging.getLogger("dyngen.s3")
# An upload may take its deadline plus the time to send its bytes at this rate: a large artifact on a
# slow link is not cut off, a silent store is.
MIN_UPLOAD_BYTES_PER_S = 1024 * 1024


@functools.cache
def _session() -> AioSession:
    """One botocore session per process: its clients (the artifact store's, the cache tier's) share the
    service model it loaded once (~0.1 s of CPU per client otherwise) and the credentials it resolved."""
    return get_session()


class S3ObjectStore:
    """Objects under `s3://<bucket>/<prefix>/<key>`.

    Call `start()` before use and `aclose()` after (bootstrap does both).

    Args:
        bucket: Bucket name.
        prefix: Key prefix inside the bucket ('' for none).
        endpoint_url: For non-AWS stores (MinIO, R2, a local test server); None for AWS.
        region: Region name.
        access_key_id: Credentials; None to use the default AWS credential chain.
        secret_access_key: Credentials.
        connect_timeout_s: Seconds to connect to the endpoint.
        timeout_s: The longest one call waits for the store to answer (botocore's read timeout).
        cooldown_s: After a failure, calls fail at once this long; then one call probes the store.
    """

    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        connect_timeout_s: float = 1.0,
        timeout_s: float = 1.0,
        cooldown_s: float = 2.0,
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "config": AioConfig(
                connect_timeout=connect_timeout_s,
                read_timeout=timeout_s,
                # One attempt: a retry would double the time a silent store holds the caller.
                retries={"max_attempts": 1, "mode": "standard"},
                s3={"addressing_style": "path"} if endpoint_url else None,
            ),
        }
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._health = Cooldown(cooldown_s=cooldown_s)
        self._deadline_s = connect_timeout_s + timeout_s

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one S3 call under the cooldown; an unreachable or silent store raises DEPENDENCY_UNAVAILABLE."""
        if not self._health.admit():
            raise DyngenError(
                ErrorCode.DEPENDENCY_UNAVAILABLE, f"the object store is unavailable: {self._health.last_error}"
            )
        try:
            result = await operation()
        except ClientError:
            self._answered()  # the store answered, with an error about this request
            raise
        except Exception as exc:  # botocore's connection and timeout errors, aiohttp's, OSError
            if self._health.failed(exc):
                log.warning("s3.unavailable error=%s", type(exc).__name__)
            raise DyngenError(
                ErrorCode.DEPENDENCY_UNAVAILABLE, f"the object store is unavailable: {type(exc).__name__}: {exc}"
            ) from exc
        except BaseException:  # cancelled: nothing learnt about the store
            self._health.released()
            raise
        self._answered()
        return result

    def _answered(self) -> None:
        if self._health.succeeded():
            log.info("s3.recovered")

    async def start(self) -> None:
        self._client = await self._stack.enter_async_context(_session().create_client("s3", **self._options))

    async def aclose(self) -> None:
        await self._stack.aclose()

    def _name(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self._bucket}/{self._name(key)}"

    def key_of(self, uri: str) -> str:
        head = f"s3://{self._bucket}/{self._prefix + '/' if self._prefix else ''}"
        if not uri.startswith(head):
            raise ValueError(f"uri {uri!r} is not in this store ({head})")
        return uri.removeprefix(head)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        async def upload() -> None:
            async with asyncio.timeout(self._deadline_s + len(data) / MIN_UPLOAD_BYTES_PER_S):
                await self._client.put_object(
                    Bucket=self._bucket, Key=self._name(key), Body=data, ContentType=content_type
                )

        await self._call(upload)

    async def get(self, key: str) -> bytes | None:
        async def read() -> bytes:
            response = await self._client.get_object(Bucket=self._bucket, Key=self._name(key))
            async with response["Body"] as stream:
                data: bytes = await stream.read()
            return data

        try:
            return await self._call(read)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    async def _exists(self, name: str) -> bool:
        try:
            await self._call(lambda: self._client.head_object(Bucket=self._bucket, Key=name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise
        return True

    async def delete(self, keys: Iterable[str]) -> int:
        """Delete objects; returns how many existed (S3 itself reports every requested key as deleted)."""
        names = [self._name(k) for k in keys]
        removed = 0
        for start in range(0, len(names), 1000):
            batch = names[start : start + 1000]
            present = [
                n for n, there in zip(batch, await asyncio.gather(*map(self._exists, batch)), strict=True) if there
            ]
            if present:
                objects = {"Objects": [{"Key": n} for n in present], "Quiet": True}
                await self._call(functools.partial(self._client.delete_objects, Bucket=self._bucket, Delete=objects))
            removed += len(present)
        return removed

    async def ping(self) -> None:
        """Raise unless the store answers now, within the deadline (ignores the cooldown: health checks
        always ask)."""
        try:
            await self._client.head_bucket(Bucket=self._bucket)
        except ClientError:
            self._answered()
            raise
        except Exception as exc:
            if self._health.failed(exc):
                log.warning("s3.unavailable error=%s", type(exc).__name__)
            raise
        self._answered()

    async def create_bucket(self) -> None:
        """Create the bucket if it does not exist (for local S3-compatible servers and tests)."""
        try:
            await self._client.head_bucket(Bucket=self._bucket)
        except ClientError:
            await self._client.create_bucket(Bucket=self._bucket)
