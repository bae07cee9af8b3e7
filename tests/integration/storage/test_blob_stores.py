"""The same contract for every BlobStore: local files and S3 (moto on loopback)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from imghost.storage import BlobNotFound, BlobStore, open_store
from imghost.storage.base import InvalidKey
from imghost.storage.encrypted import EncryptedBlobStore
from imghost.storage.keys import parse_keys
from imghost.testing.servers import S3Server
from tests.conftest import TEST_ENCRYPTION_KEYS


@pytest.fixture(params=["local", "s3", "local+encrypted", "s3+encrypted"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    backend, _, encrypted = str(request.param).partition("+")
    keys = parse_keys(TEST_ENCRYPTION_KEYS) if encrypted else None
    if backend == "local":
        yield open_store(f"file://{tmp_path / 'blobs'}", keys=keys)
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        url = s3.storage_url("imghost-test", f"store-{uuid.uuid4().hex[:8]}")
        yield open_store(url, keys=keys)


async def _collect(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    out = bytearray()
    async for chunk in await store.get(key, start, end, chunk_size=1000):
        out += chunk
    return bytes(out)


def test_contract(store: BlobStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * 50

    async def scenario() -> None:
        spool = store.staging_dir / f"upload-{uuid.uuid4().hex}"
        spool.write_bytes(data)
        await store.put_file("u_1/img_1/original", spool)
        assert not spool.exists()  # consumed
        assert await _collect(store, "u_1/img_1/original") == data
        assert await _collect(store, "u_1/img_1/original", 100, 3100) == data[100:3100]
        assert await _collect(store, "u_1/img_1/original", 12000) == data[12000:]
        assert await store.read("u_1/img_1/original", 10, 20) == data[10:20]
        assert await store.read_all("u_1/img_1/original") == data
        with pytest.raises(BlobNotFound):
            await store.read_all("missing/key/original")
        with pytest.raises(BlobNotFound):
            await store.read("missing/key/original", 0, 1)
        meta = await store.head("u_1/img_1/original")
        assert meta is not None and meta.size == len(data) and meta.last_modified.tzinfo
        await store.put_bytes("uploads/upl_1", b"abc")
        await store.put_bytes("u_1/img_2/original", b"abc")
        assert await _collect(store, "u_1/img_2/original") == b"abc"
        keys = sorted([m.key async for m in store.list("")])
        assert keys == ["u_1/img_1/original", "u_1/img_2/original", "uploads/upl_1"]
        assert [m.key async for m in store.list("uploads/")] == ["uploads/upl_1"]
        # a folder prefix lists that folder only
        await store.put_bytes("u_1/img_22/original", b"abc")
        assert [m.key async for m in store.list("u_1/img_2/")] == ["u_1/img_2/original"]
        assert [m.key async for m in store.list("nowhere/")] == []
        await store.delete("u_1/img_22/original")
        target = tmp_path / "downloaded"
        await store.download("u_1/img_1/original", target)
        assert target.read_bytes() == data
        await store.delete("uploads/upl_1")
        await store.delete("uploads/upl_1")  # idempotent
        assert await store.head("uploads/upl_1") is None
        with pytest.raises(BlobNotFound):
            await store.get("missing/key/original")
        for bad in ("../etc/passwd", "/abs", "a//b", "a/./b", ""):
            with pytest.raises(InvalidKey):
                await store.put_bytes(bad, b"x")

    anyio.run(scenario)


def test_presigned_urls(store: BlobStore) -> None:
    async def scenario() -> tuple[str | None, str | None]:
        put = await store.presign_put("uploads/upl_p", 60)
        get = await store.presign_get("uploads/upl_p", 60)
        return put, get

    put_url, get_url = anyio.run(scenario)
    if put_url is None:  # local files: the API signs its own URLs instead
        assert get_url is None
        return
    if isinstance(store, EncryptedBlobStore):
        # Uploads land as they are (finalizing encrypts them); a GET would hand
        # out ciphertext, so the API serves every byte itself.
        assert get_url is None
        assert httpx.put(put_url, content=b"presigned bytes").status_code == 200
        assert anyio.run(store.read_all, "uploads/upl_p") == b"presigned bytes"
        return
    assert httpx.put(put_url, content=b"presigned bytes").status_code == 200
    assert get_url is not None and httpx.get(get_url).content == b"presigned bytes"
    # (moto does not verify SigV4 signatures, so tampering is not testable here.)


def test_local_store_writes_are_atomic(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path / 'blobs'}")

    async def scenario() -> None:
        await store.put_bytes("a/b/original", b"v1")
        await store.put_bytes("a/b/original", b"v2")
        assert await _collect(store, "a/b/original") == b"v2"
        # Nothing half-written lies around, and the staging dir is not listed.
        assert [m.key async for m in store.list("")] == ["a/b/original"]
        await store.delete("a/b/original")
        assert not (tmp_path / "blobs" / "a").exists()  # empty dirs pruned

    anyio.run(scenario)
