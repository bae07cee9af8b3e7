"""Small blobs' bytes in memory: read from the store once, bounded by total bytes."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from imghost.delivery.hot_blobs import HotBlobs
from imghost.storage import BlobNotFound
from imghost.storage.local import LocalBlobStore


def test_bytes_are_read_once_then_served_from_memory(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    hot = HotBlobs(capacity=1000)

    async def main() -> None:
        await store.put_bytes("a/original", b"x" * 100)
        assert await hot.read(store, "a/original") == b"x" * 100
        await store.delete("a/original")  # gone from the store, still in memory
        assert await hot.read(store, "a/original") == b"x" * 100
        with pytest.raises(BlobNotFound):
            await hot.read(store, "b/original")

    anyio.run(main)


def test_least_recently_used_go_first_past_the_capacity() -> None:
    hot = HotBlobs(capacity=300, max_blob=200)
    hot.put("a", b"a" * 100)
    hot.put("b", b"b" * 100)
    hot.get("a")  # a is now the most recent
    hot.put("c", b"c" * 150)
    assert (hot.get("a"), hot.get("b")) == (b"a" * 100, None)
    assert hot.size == 250


def test_large_blobs_are_not_kept() -> None:
    hot = HotBlobs(capacity=10_000, max_blob=100)
    hot.put("big", b"x" * 101)
    assert hot.get("big") is None and hot.size == 0
    assert HotBlobs(capacity=0).max_blob == 0  # off
