"""What encryption at rest promises beyond the store contract, on local files
and S3: tampering, truncation, reordering and appending are errors, never
bytes; a range decrypts only its segments; a rewrap leaves the data alone."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import anyio
import httpx
import pytest

from imghost.storage import BlobStore, envelope, open_store
from imghost.storage.encrypted import EncryptedBlobStore
from imghost.storage.envelope import HEADER, SEGMENT, SLOT, BlobCorrupt
from imghost.storage.keys import parse_keys
from imghost.testing.servers import S3Server
from tests.conftest import TEST_ENCRYPTION_KEYS, LiveServer
from tests.factories import assert_problem, image_bytes, make_user, upload_ok

KEY = "u_1/img_1/original"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EncryptedBlobStore:
    keys = parse_keys(TEST_ENCRYPTION_KEYS)
    if request.param == "local":
        url = f"file://{tmp_path / 'blobs'}"
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        url = s3.storage_url("imghost-test", f"enc-{uuid.uuid4().hex[:8]}")
    store = open_store(url, str(tmp_path / "spool"), keys)
    assert isinstance(store, EncryptedBlobStore)
    return store


def fresh(store: EncryptedBlobStore) -> EncryptedBlobStore:
    """Another process's view: nothing cached."""
    return EncryptedBlobStore(store.inner, store.keys)


async def collect(store: BlobStore, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in await store.get(KEY, start, end)])


async def rewrite(store: EncryptedBlobStore, stored: bytes) -> EncryptedBlobStore:
    await store.inner.put_bytes(KEY, stored)
    return fresh(store)


def test_sizes_ranges_and_every_kind_of_damage(store: EncryptedBlobStore) -> None:
    data = os.urandom(3 * SEGMENT + 1000)

    async def scenario() -> None:
        await store.put_bytes(KEY, data)
        stored = await store.inner.read_all(KEY)
        assert stored[:8] == envelope.MAGIC and data[:4096] not in stored
        assert len(stored) == envelope.stored_size(len(data))
        meta = await store.head(KEY)
        assert meta is not None and meta.size == len(data)
        for start, end in [
            (0, 1),
            (SEGMENT - 1, SEGMENT + 1),
            (5, len(data)),
            (len(data) - 1, None),
        ]:
            want = data[start:end]
            assert await collect(store, start, end) == want
            assert await fresh(store).read(KEY, start, len(data) if end is None else end) == want

        # A bit flipped in the last segment: a range over the first is still
        # served (only its segments are read and authenticated), the whole is not.
        flipped = bytearray(stored)
        flipped[-20] ^= 1
        damaged = await rewrite(store, bytes(flipped))
        assert await damaged.read(KEY, 0, 100) == data[:100]
        with pytest.raises(BlobCorrupt):
            await damaged.read(KEY, len(data) - 10, len(data))
        with pytest.raises(BlobCorrupt):
            await collect(fresh(store))
        with pytest.raises(BlobCorrupt):
            await fresh(store).read_all(KEY)

        segments = [stored[HEADER + i * SLOT : HEADER + (i + 1) * SLOT] for i in range(4)]
        header = stored[:HEADER]
        cases = {
            "cut at a segment boundary": header + b"".join(segments[:3]),
            "cut inside a segment": stored[:-7],
            "two segments swapped": header + segments[1] + segments[0] + segments[2] + segments[3],
            "a segment appended": stored + segments[1],
        }
        for name, bad in cases.items():
            damaged = await rewrite(store, bad)
            with pytest.raises(BlobCorrupt):
                await collect(damaged)
            with pytest.raises(BlobCorrupt):
                await fresh(store).read_all(KEY)
            assert name  # (the case that failed is in the traceback's locals)

        # A header under a key this install does not have.
        other = EncryptedBlobStore(store.inner, parse_keys("zz:" + "A" * 43 + "="))
        await store.inner.put_bytes(KEY, stored)
        with pytest.raises(BlobCorrupt):
            await other.read(KEY, 0, 10)

    anyio.run(scenario)


def test_rewrap_changes_only_the_header(store: EncryptedBlobStore) -> None:
    # Over two S3 parts (10 MiB): the rest is copied inside the bucket.
    data = os.urandom(11 * 1024 * 1024)
    newer = parse_keys("k3:" + "B" * 43 + "=," + TEST_ENCRYPTION_KEYS)
    rotated = EncryptedBlobStore(store.inner, newer)

    async def scenario() -> None:
        await store.put_bytes(KEY, data)
        before = await store.inner.read_all(KEY)
        assert await rotated.rewrap(KEY)
        assert not await rotated.rewrap(KEY)  # done already
        after = await store.inner.read_all(KEY)
        assert envelope.Header.decode(after).kid == "k3"
        assert after[HEADER:] == before[HEADER:] and after[:8] == before[:8]
        only_new = EncryptedBlobStore(store.inner, parse_keys("k3:" + "B" * 43 + "="))
        assert await only_new.read_all(KEY) == data

    anyio.run(scenario)


def test_encrypt_existing_in_place(store: EncryptedBlobStore) -> None:
    data = os.urandom(SEGMENT + 5)

    async def scenario() -> None:
        await store.inner.put_bytes(KEY, data)
        assert await store.read_all(KEY) == data  # plaintext reads as it is
        assert await store.read(KEY, 3, 70) == data[3:70]
        assert await store.encrypt_existing(KEY)
        assert not await store.encrypt_existing(KEY)
        assert (await store.inner.read_all(KEY))[:8] == envelope.MAGIC
        assert await store.read(KEY, 3, 70) == data[3:70]
        assert await store.read_all(KEY) == data

    anyio.run(scenario)


@pytest.mark.parametrize("backend", ["sqlite-local+encrypted"], indirect=True)
def test_a_tampered_original_is_an_error_never_bytes(settings_factory: object) -> None:
    settings = settings_factory()  # type: ignore[operator]
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        user = make_user(client)
        image = upload_ok(client, user, data=image_bytes("PNG", size=(400, 300)))
        root = Path(settings.storage_url.removeprefix("file://"))
        blob = root / f"{image['ownerId']}/{image['imageId']}/original"
        stored = bytearray(blob.read_bytes())
        stored[HEADER + 40] ^= 1
        blob.write_bytes(stored)
        r = client.get(f"/images/{image['imageId']}", headers=user.headers)
        assert_problem(r, 500, "blob_unreadable")
