"""Key rotation and the encryption of blobs stored before encryption, as jobs.

``imghost keys rotate`` and ``imghost keys encrypt-existing`` list the store
and queue one ``blob_keys`` job per batch of keys; the workers run them while
the service serves. Each step is idempotent (a blob already wrapped under the
current key, or already encrypted, is skipped after reading its header), so an
interrupted run is resumed by running the command again, and a job that dies
half way is simply retried.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.jobs import queue
from imghost.jobs.registry import Registry
from imghost.storage.encrypted import EncryptedBlobStore

log = logging.getLogger(__name__)

BLOB_KEYS = "blob_keys"
BATCH = 200  # blob keys per job
Op = Literal["rotate", "encrypt"]

#: Not blobs: a presigned upload's bytes land as sent and are encrypted when it
#: is finalized; on S3, a resumable upload's pieces are parts of a blob to be.
TRANSIENT = ("uploads/", "tus/")


def register(registry: Registry, store: EncryptedBlobStore) -> None:
    registry.add(BLOB_KEYS, functools.partial(run, store))


async def run(store: EncryptedBlobStore, payload: dict[str, Any]) -> None:
    op: Op = payload["op"]
    changed = 0
    for key in payload["keys"]:
        step = store.rewrap if op == "rotate" else store.encrypt_existing
        changed += await step(key)
    log.info("%s: %d of %d blobs changed", op, changed, len(payload["keys"]))


async def blob_keys(store: EncryptedBlobStore) -> AsyncIterator[list[str]]:
    """Every blob's key, in batches (transient upload bytes left out)."""
    batch: list[str] = []
    async for meta in store.list(""):
        if meta.key.startswith(TRANSIENT):
            continue
        batch.append(meta.key)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def enqueue(session: AsyncSession, op: Op, keys: list[str], max_attempts: int) -> None:
    # Bulk: a rotation's batches wait for every upload's processing.
    queue.enqueue(
        session,
        BLOB_KEYS,
        {"op": op, "keys": keys},
        max_attempts=max_attempts,
        priority=queue.BULK,
    )
