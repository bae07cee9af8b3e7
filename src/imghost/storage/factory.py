"""Open the blob store a storage URL names, and its resumable-upload store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from imghost.storage.base import BlobStore
from imghost.storage.local import LocalBlobStore
from imghost.storage.resumable import ResumableStore
from imghost.storage.s3 import S3BlobStore


def open_store(url: str, staging_dir: str = "") -> BlobStore:
    if url.startswith("file://"):
        return LocalBlobStore(Path(url[len("file://") :]))
    if url.startswith("s3://"):
        return S3BlobStore(url, Path(staging_dir) if staging_dir else None)
    raise ValueError(f"unsupported storage URL {url!r}")


def open_resumable(
    store: BlobStore, url: str, part_size: int, content_type: Callable[[bytes], str | None]
) -> ResumableStore:
    """Where tus uploads keep their bytes: beside the blobs, in the same backend.

    ``content_type`` names a file's type from its leading bytes (S3 records it
    when an upload starts, at the key the image will have)."""
    if isinstance(store, LocalBlobStore):
        from imghost.storage.resumable_local import LocalResumableStore

        return LocalResumableStore(store.root / ".tus")
    if isinstance(store, S3BlobStore):
        from imghost.storage.resumable_s3 import S3ResumableStore
        from imghost.storage.s3_multipart import S3Multipart

        return S3ResumableStore(store, S3Multipart(url), part_size, content_type)
    raise ValueError(f"no resumable uploads for {type(store).__name__}")
