"""The blob store interface every storage backend implements.

Keys are relative, slash-separated paths such as ``{ownerId}/{imageId}/original``.
The store is never exposed to clients directly: bytes leave through the API's
delivery routes, a URL the API signed, or a presigned URL from the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class BlobNotFound(LookupError):
    """The key does not exist in the store."""


class InvalidKey(ValueError):
    """A key that could escape the store's namespace."""


@dataclass(frozen=True)
class BlobMeta:
    key: str
    size: int
    last_modified: dt.datetime


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidKey(f"invalid blob key {key!r}")
    return key


class BlobStore(Protocol):
    #: Where uploads are spooled before they are validated and stored. For the
    #: local store it is on the same filesystem, so storing is a rename.
    staging_dir: Path

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Store the file at ``path`` under ``key``; the file is consumed.

        ``content_type`` is recorded where the store keeps one (S3), so URLs
        the store presigns serve the sniffed type, never the uploader's claim.
        """

    async def put_bytes(self, key: str, data: bytes) -> None: ...

    async def get(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)``; raises BlobNotFound before the first chunk."""
        ...

    async def read(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` in one operation, for small bodies; BlobNotFound if missing."""
        ...

    async def read_all(self, key: str) -> bytes:
        """A whole (small) object, e.g. a derivative; BlobNotFound if missing."""
        ...

    async def download(self, key: str, path: Path) -> None: ...

    async def head(self, key: str) -> BlobMeta | None: ...

    async def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error."""

    def list(self, prefix: str = "") -> AsyncIterator[BlobMeta]: ...

    async def presign_put(self, key: str, expires_in: int, size: int | None = None) -> str | None:
        """A URL a client can PUT bytes to, or None when the API must sign its own.
        With ``size``, the URL accepts a body of exactly that many bytes."""

    async def presign_get(self, key: str, expires_in: int) -> str | None: ...

    async def close(self) -> None: ...
