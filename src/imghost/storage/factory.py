"""Open the blob store a storage URL names, and its resumable-upload store,
encrypted when there are key-encryption keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from imghost.storage.base import BlobStore
from imghost.storage.encrypted import EncryptedBlobStore
from imghost.storage.envelope import HEADER, SLOT
from imghost.storage.keys import KeyEncryptionKeys
from imghost.storage.local import LocalBlobStore
from imghost.storage.resumable import ResumableStore
from imghost.storage.s3 import S3BlobStore


def open_store(url: str, staging_dir: str = "", keys: KeyEncryptionKeys | None = None) -> BlobStore:
    store: BlobStore
    if url.startswith("file://"):
        store = LocalBlobStore(Path(url[len("file://") :]))
    elif url.startswith("s3://"):
        store = S3BlobStore(url, Path(staging_dir) if staging_dir else None)
    else:
        raise ValueError(f"unsupported storage URL {url!r}")
    return EncryptedBlobStore(store, keys) if keys is not None else store


def open_resumable(
    store: BlobStore, url: str, part_size: int, content_type: Callable[[bytes], str | None]
) -> ResumableStore:
    """Where tus uploads keep their bytes: beside the blobs, in the same backend.

    ``content_type`` names a file's type from its leading bytes (S3 records it
    when an upload starts, at the key the image will have)."""
    keys = store.keys if isinstance(store, EncryptedBlobStore) else None
    base = store.inner if isinstance(store, EncryptedBlobStore) else store
    resumable: ResumableStore
    if isinstance(base, LocalBlobStore):
        from imghost.storage.resumable_local import LocalResumableStore

        resumable = LocalResumableStore(base.root / ".tus")
    elif isinstance(base, S3BlobStore):
        from imghost.storage.resumable_s3 import S3ResumableStore
        from imghost.storage.s3_multipart import S3Multipart

        s3 = S3ResumableStore(base, S3Multipart(url), part_size, content_type)
        if keys is not None:
            # Parts of whole segments (rounded up: S3's minimum part size holds),
            # the first one with the header before them.
            s3.part_size, s3.lead = -(-part_size // SLOT) * SLOT, HEADER
        resumable = s3
    else:
        raise ValueError(f"no resumable uploads for {type(base).__name__}")
    if keys is None:
        return resumable
    from imghost.storage.encrypted_resumable import EncryptingResumableStore

    return EncryptingResumableStore(resumable, keys, base)
