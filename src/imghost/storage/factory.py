"""Open the blob store a storage URL names."""

from __future__ import annotations

from pathlib import Path

from imghost.storage.base import BlobStore
from imghost.storage.local import LocalBlobStore
from imghost.storage.s3 import S3BlobStore


def open_store(url: str, staging_dir: str = "") -> BlobStore:
    if url.startswith("file://"):
        return LocalBlobStore(Path(url[len("file://") :]))
    if url.startswith("s3://"):
        return S3BlobStore(url, Path(staging_dir) if staging_dir else None)
    raise ValueError(f"unsupported storage URL {url!r}")
