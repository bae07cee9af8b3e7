"""The same contract for every ResumableStore: local files and S3 multipart (moto)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import anyio
import pytest

from imghost.context import sniffed_type
from imghost.storage import BlobStore, open_store
from imghost.storage.factory import open_resumable
from imghost.storage.keys import parse_keys
from imghost.storage.resumable import Piece, ResumableStore
from imghost.testing.servers import S3Server
from tests.conftest import TEST_ENCRYPTION_KEYS

PART = 5 * 1024 * 1024
TARGET = "u_1/img_1/original"


@pytest.fixture(params=["local", "s3", "local+encrypted", "s3+encrypted"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def blobs_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend.startswith("local"):
        return f"file://{tmp_path / 'blobs'}"
    s3: S3Server = request.getfixturevalue("s3_server")
    return s3.storage_url("imghost-test", f"resumable-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def blobs(blobs_url: str, backend: str, tmp_path: Path) -> BlobStore:
    keys = parse_keys(TEST_ENCRYPTION_KEYS) if backend.endswith("+encrypted") else None
    return open_store(blobs_url, str(tmp_path / "spool"), keys)


@pytest.fixture
def resumable(blobs: BlobStore, blobs_url: str) -> ResumableStore:
    return open_resumable(blobs, blobs_url, PART, sniffed_type)


def test_append_abandon_resume_assemble_discard(
    resumable: ResumableStore, blobs: BlobStore, backend: str, tmp_path: Path
) -> None:
    data = os.urandom(2 * PART + 12345)

    async def scenario() -> None:
        # A first request writes 1.5 parts and closes: all of it is durable.
        writer = await resumable.open("upl_a", 0, {}, TARGET)
        await writer.write(data[: PART + PART // 2])
        offset, state = await writer.close()
        assert offset == PART + PART // 2
        # A second one crosses a part boundary, then is abandoned (checksum
        # mismatch): the upload stays where it was.
        writer = await resumable.open("upl_a", offset, state, TARGET)
        await writer.write(data[offset : offset + PART])
        await writer.abandon()
        # A third one finishes; mid-request, only whole parts count as durable.
        writer = await resumable.open("upl_a", offset, state, TARGET)
        await writer.write(data[offset:])
        mid_offset, _ = await writer.checkpoint()
        assert mid_offset <= len(data)
        offset, state = await writer.close()
        assert offset == len(data)
        state = await resumable.seal("upl_a", offset, state)
        # Sealing twice is harmless (a retried completion).
        state = await resumable.seal("upl_a", offset, state)
        out = tmp_path / "assembled"
        await resumable.assemble([Piece("upl_a", offset, state)], out)
        assert out.read_bytes() == data
        assert {item.upload_id for item in await resumable.leftovers()} == {"upl_a"}
        # On S3 the sealed object is at the target key already; local files
        # are linked into place by the caller instead, unless encrypted (the
        # caller's file is the plaintext: the upload's own is moved into place).
        adopted = await resumable.adopt([Piece("upl_a", offset, state)], TARGET, "image/png")
        assert (adopted is not None) == (backend.startswith("s3") or "+encrypted" in backend)
        if adopted is not None:
            assert await blobs.read_all(TARGET) == data
            state = adopted
        await resumable.discard("upl_a", state)
        await resumable.discard("upl_a", state)  # idempotent
        assert await resumable.leftovers() == []
        if adopted is not None:  # the image's bytes stay
            assert await blobs.read_all(TARGET) == data

    anyio.run(scenario)


def test_bytes_past_the_recorded_offset_are_ignored(
    resumable: ResumableStore, tmp_path: Path
) -> None:
    async def scenario() -> None:
        writer = await resumable.open("upl_b", 0, {})
        await writer.write(b"a" * 1000)
        offset, state = await writer.close()
        # The row only ever recorded 400 bytes (a crash before the update).
        writer = await resumable.open("upl_b", 400, state)
        await writer.write(b"b" * 600)
        offset, state = await writer.close()
        assert offset == 1000
        state = await resumable.seal("upl_b", offset, state)
        out = tmp_path / "assembled"
        await resumable.assemble([Piece("upl_b", offset, state)], out)
        assert out.read_bytes() == b"a" * 400 + b"b" * 600

    anyio.run(scenario)
