"""`S3ObjectStore`: objects in any S3-compatible store (AWS S3, MinIO, R2, Ceph) through aiobotocore."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError


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
        timeout_s: Connect and read timeout per call.
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
        timeout_s: float = 5.0,
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "config": AioConfig(
                connect_timeout=timeout_s,
                read_timeout=timeout_s,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"} if endpoint_url else None,
            ),
        }
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None

    async def start(self) -> None:
        self._client = await self._stack.enter_async_context(get_session().create_client("s3", **self._options))

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
        await self._client.put_object(Bucket=self._bucket, Key=self._name(key), Body=data, ContentType=content_type)

    async def get(self, key: str) -> bytes | None:
        try:
            response = await self._client.get_object(Bucket=self._bucket, Key=self._name(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        async with response["Body"] as stream:
            data: bytes = await stream.read()
        return data

    async def _exists(self, name: str) -> bool:
        try:
            await self._client.head_object(Bucket=self._bucket, Key=name)
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
                await self._client.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": [{"Key": n} for n in present], "Quiet": True}
                )
            removed += len(present)
        return removed

    async def ping(self) -> None:
        await self._client.head_bucket(Bucket=self._bucket)

    async def create_bucket(self) -> None:
        """Create the bucket if it does not exist (for local S3-compatible servers and tests)."""
        try:
            await self._client.head_bucket(Bucket=self._bucket)
        except ClientError:
            await self._client.create_bucket(Bucket=self._bucket)
