"""Object storage: where files (citizens' uploaded materials) are kept, behind one small interface.

`put(key, data)`, `get(key)`, `delete(key)`, all async. Two implementations, chosen by
APP_UPLOAD_STORAGE:

- `LocalStorage` (the embedded default): one file per object under the data folder
  (`data/uploads/` unless APP_UPLOAD_DIR says otherwise), folders 0700 and files 0600 like every
  private file there (app/file_modes.py). Disk work runs in a thread, off the event loop.
- `S3Storage`: any S3-compatible object store (a cloud provider's OSS/COS/S3, MinIO, SeaweedFS) over
  aiobotocore, whose HTTP is aiohttp: no call blocks the loop. The tests run it against a local
  SeaweedFS server (tests/s3_server.py).

The bytes given to `put` are kept as given: callers encrypt before (app/uploads encrypts every
upload with a key derived from the PII master key), so neither the disk nor the object store
ever holds a plaintext file.
"""

from __future__ import annotations

import asyncio
import os
import re
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

from app.config import Settings
from app.file_modes import PRIVATE_FILE, make_private_dir

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}(/[A-Za-z0-9_-]{1,128}){0,3}$")


class ObjectMissing(Exception):
    """No object is kept under that key."""


class ObjectStorage(Protocol):
    """Keeps whole objects by key; a key is 1-4 segments of letters, digits, _ and - joined by /."""

    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    async def close(self) -> None: ...


def checked_key(key: str) -> str:
    """`key` if it is a safe object key (no "..", no leading /, nothing a path could escape with)."""
    if not _KEY.match(key):
        raise ValueError(f"not an object key: {key!r}")
    return key


class LocalStorage:
    """Objects as files under `root` (0700 folders, 0600 files), written whole or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, key: str) -> Path:
        return self.root / checked_key(key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self.path_of(key), data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read, self.path_of(key))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, missing_ok=True)

    async def close(self) -> None:
        return None

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Written to a private temporary file beside it, then renamed: a reader never sees half an object."""
        make_private_dir(path.parent)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(path.name) from None


class S3Storage:
    """Objects in one bucket of an S3-compatible store, through one aiobotocore client opened on first use."""

    def __init__(self, *, endpoint: str, bucket: str, region: str, access_key: str, secret_key: str,
                 prefix: str = "", timeout: float = 10.0) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint or None, "region_name": region,
            "aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
        self._timeout = timeout
        self._client: Any = None
        self._exits = AsyncExitStack()
        self._opening = asyncio.Lock()

    def name_of(self, key: str) -> str:
        checked_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, data: bytes) -> None:
        client = await self._s3()
        await client.put_object(Bucket=self.bucket, Key=self.name_of(key), Body=data,
                                ContentType="application/octet-stream")

    async def get(self, key: str) -> bytes:
        client = await self._s3()
        try:
            reply = await client.get_object(Bucket=self.bucket, Key=self.name_of(key))
        except client.exceptions.NoSuchKey:
            raise ObjectMissing(key) from None
        async with reply["Body"] as body:
            data: bytes = await body.read()
        return data

    async def delete(self, key: str) -> None:
        client = await self._s3()
        await client.delete_object(Bucket=self.bucket, Key=self.name_of(key))  # no error when it is gone

    async def close(self) -> None:
        await self._exits.aclose()
        self._client = None

    async def _s3(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._client is None:
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                session = get_session()
                # botocore reads its JSON models from disk when a client is made: read here in a thread, they
                # are cached in the session, and making the client then takes no disk reads on the loop.
                await asyncio.to_thread(_load_models, session)
                config = AioConfig(connect_timeout=self._timeout, read_timeout=self._timeout,
                                   retries={"max_attempts": 2, "mode": "standard"},
                                   s3={"addressing_style": "path"}, signature_version="s3v4")
                self._client = await self._exits.enter_async_context(
                    session.create_client("s3", config=config, **self._options))
        return self._client


def _load_models(session: Any) -> None:
    loader = session.get_component("data_loader")
    loader.load_service_model("s3", "service-2")
    loader.load_service_model("s3", "endpoint-rule-set-1")
    for name in ("endpoints", "partitions", "_retry", "sdk-default-configuration"):
        loader.load_data(name)


def storage_from_settings(settings: Settings) -> ObjectStorage:
    """The storage APP_UPLOAD_STORAGE names: `local` (under the data folder) or `s3`."""
    uploads = settings.uploads
    if uploads.storage == "s3":
        return S3Storage(endpoint=uploads.s3_endpoint, bucket=uploads.s3_bucket, region=uploads.s3_region,
                         access_key=uploads.s3_access_key, secret_key=uploads.s3_secret_key,
                         prefix=uploads.s3_prefix, timeout=uploads.s3_timeout)
    return LocalStorage(uploads.dir or settings.data_dir / "uploads")
