"""What processing needs from the running app, handed over by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.imaging.scan import Scanner
from imghost.processing.hashlists import HashLists
from imghost.processing.pool import PixelPool
from imghost.settings import Settings
from imghost.storage import BlobStore


@dataclass(frozen=True)
class ProcessingDeps:
    sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    # Pixel work of big images (jobs and on-demand renders) runs in its processes.
    pixels: PixelPool
    settings: Settings
    # The malware scanner run after the structural scan (a ClamdScanner), or
    # None: IMGHOST_CLAMD_ADDRESS is not set.
    malware: Scanner | None = None
    # The operator's lists of known-bad hashes (IMGHOST_HASHLIST_*), or None:
    # none is configured and the hash-list step does nothing.
    hashlists: HashLists | None = None
