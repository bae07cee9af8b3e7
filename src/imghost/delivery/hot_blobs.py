"""The bytes of the small blobs a process served last, kept in memory.

A stored blob's bytes never change under its key (originals and GPS-free copies
get a new key when replaced; a derivative's key names its render version), so
keeping them needs no invalidation: whether a request may have them is decided
from the image's facts before the bytes are looked up, and a deleted image has
no facts. Bounded by total bytes (IMGHOST_DELIVERY_HOT_BYTES per process, least
recently used out first); only blobs up to ``max_blob`` bytes are kept, so one
large file cannot flush the many small ones that make up most views.

With encryption at rest the bytes kept are plaintext, in this process's memory
only, like every body the process sends.
"""

from __future__ import annotations

from collections import OrderedDict

from imghost import metrics
from imghost.storage import BlobStore


class HotBlobs:
    def __init__(self, capacity: int, max_blob: int = 512 * 1024) -> None:
        self.capacity = capacity
        self.max_blob = min(max_blob, capacity)
        self._size = 0
        self._blobs: OrderedDict[str, bytes] = OrderedDict()

    async def read(self, store: BlobStore, key: str) -> bytes:
        """The whole blob, from memory when kept (BlobNotFound when it is gone)."""
        data = self.get(key)
        metrics.cache_lookup("blobs", data is not None)
        if data is None:
            data = await store.read_all(key)
            self.put(key, data)
        return data

    def get(self, key: str) -> bytes | None:
        data = self._blobs.get(key)
        if data is not None:
            self._blobs.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_blob or key in self._blobs:
            return
        self._blobs[key] = data
        self._size += len(data)
        while self._size > self.capacity:
            _, dropped = self._blobs.popitem(last=False)
            self._size -= len(dropped)

    @property
    def size(self) -> int:
        return self._size
