"""The scrub's reading of stored bytes (``imghost verify``): each blob of an
image read back through the store, streamed (flat memory, whatever its size;
an encrypting store decrypts on the way), hashed and compared with what was
recorded when it was written, at a pace an operator sets.

No database here: the job (``processing.verify.verify_image``) gathers what
was recorded, hands it over, and records what this finds.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from dataclasses import dataclass

from PIL import Image as PILImage

from imghost.images.services import StoredVersion
from imghost.storage import BlobNotFound, BlobStore
from imghost.storage.envelope import BlobCorrupt

MISSING, CORRUPT = "missing", "corrupt"

#: Errors a store raises for bytes it has but cannot give back as written
#: (beside a hash that differs): an encrypted blob that fails its
#: authentication (tampered, cut short, or under a key this install lacks).
#: Anything else (the store unreachable) fails the job, which is retried, and
#: never marks an image damaged.
UNREADABLE: tuple[type[Exception], ...] = (BlobCorrupt,)


class Pacer:
    """At most ``rate`` bytes per second over every scrub job of one worker
    process (its slots share one pacer); 0: no limit. A virtual clock: each
    read books the time its bytes take at the rate and waits until its turn,
    so concurrent jobs queue behind each other instead of each reading at
    the full rate."""

    def __init__(self) -> None:
        self._free_at = 0.0

    async def take(self, amount: int, rate: int) -> None:
        if rate <= 0 or amount <= 0:
            return
        now = time.monotonic()
        start = max(now, self._free_at)
        self._free_at = start + amount / rate
        if start > now:
            await asyncio.sleep(start - now)


@dataclass(frozen=True)
class Problem:
    """A blob that does not match its record."""

    blob_key: str
    kind: str  # original | gps_free | preset
    problem: str  # missing | corrupt


@dataclass(frozen=True)
class Read:
    """What reading one blob found: its problem (None: intact) and the bytes read."""

    problem: Problem | None
    size: int


async def check(store: BlobStore, version: StoredVersion, pacer: Pacer, rate: int) -> Read:
    """Read one blob back and compare it with its record: the SHA-256 when
    one was recorded, else (a preset stored before migration 0014 and not
    measured yet) its size and whether it decodes."""
    if version.sha256 is None:
        return await _check_unhashed(store, version, pacer, rate)
    digest = hashlib.sha256()
    size = 0
    try:
        async for chunk in await store.get(version.blob_key):
            await pacer.take(len(chunk), rate)
            digest.update(chunk)
            size += len(chunk)
    except BlobNotFound:
        return Read(Problem(version.blob_key, version.kind, MISSING), size)
    except UNREADABLE:
        return Read(Problem(version.blob_key, version.kind, CORRUPT), size)
    intact = size == version.size and digest.hexdigest() == version.sha256
    return Read(None if intact else Problem(version.blob_key, version.kind, CORRUPT), size)


async def _check_unhashed(
    store: BlobStore, version: StoredVersion, pacer: Pacer, rate: int
) -> Read:
    """A preset without a recorded hash (small: at most 2048 px a side)."""
    try:
        data = await store.read_all(version.blob_key)
    except BlobNotFound:
        return Read(Problem(version.blob_key, version.kind, MISSING), 0)
    except UNREADABLE:
        return Read(Problem(version.blob_key, version.kind, CORRUPT), 0)
    await pacer.take(len(data), rate)
    intact = (version.size in (0, len(data))) and await asyncio.to_thread(_decodes, data)
    return Read(None if intact else Problem(version.blob_key, version.kind, CORRUPT), len(data))


def _decodes(data: bytes) -> bool:
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            img.load()
    except Exception:
        return False
    return True
