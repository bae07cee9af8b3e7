"""The steps that turn an upload whose last byte has arrived into an image.

The bytes are validated exactly like a direct upload's (same probe, same
error codes). Each step here flushes and never commits: ``tus.flow`` runs
them under the upload's lease and commits between them (see its
``_finish`` for what commits when, and what a failure leaves).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.albums.uploads import with_album
from imghost.images.fields import NewImageFields
from imghost.images.models import Image
from imghost.settings import Settings
from imghost.storage import BlobStore
from imghost.storage.resumable import Piece, ResumableStore, State
from imghost.tus import leases, services
from imghost.uploads import services as uploads
from imghost.uploads.models import Upload


@dataclass(frozen=True)
class Assembled:
    path: Path
    size: int
    sha256: str


async def seal(
    resumable: ResumableStore,
    session: AsyncSession,
    settings: Settings,
    upload: Upload,
    token: str,
) -> Piece:
    """Make a whole upload's bytes readable and record that (flushed)."""
    assert upload.size is not None
    state = await resumable.seal(upload.id, upload.size, upload.storage or {})
    await leases.save_progress(session, settings, upload.id, token, upload.size, state)
    return Piece(upload.id, upload.size, state)


@contextlib.contextmanager
def staging_file(store: BlobStore) -> Iterator[Path]:
    """An empty file in the store's staging directory, removed afterwards."""
    staging = store.staging_dir
    staging.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="tus-", dir=staging)
    path = Path(name)
    try:
        os.close(fd)
        yield path
    finally:
        path.unlink(missing_ok=True)


async def digest(path: Path, pieces: list[Piece]) -> Assembled:
    """The assembled file at ``path`` with its size and hash."""
    size = sum(p.size for p in pieces)
    return Assembled(path, size, await anyio.to_thread.run_sync(uploads.sha256_file, path))


async def fields_now(session: AsyncSession, upload: Upload) -> NewImageFields:
    """The image fields the upload asked for, its album permission checked again:
    it was checked at creation, and may have been revoked (or the album
    deleted) meanwhile."""
    caller = await services.uploader(session, upload)
    return await with_album(session, caller, services.image_fields(upload))


async def validate(
    settings: Settings, upload: Upload, fields: NewImageFields, assembled: Assembled
) -> Image:
    """Validate the assembled file as the upload's image (neither stored nor added)."""
    return await uploads.check_new_image(
        settings,
        upload.owner_id,
        fields,
        assembled,
        upload.filename,
        upload.reserved_image_id,
    )


async def store_bytes(
    resumable: ResumableStore, store: BlobStore, pieces: list[Piece], image: Image, path: Path
) -> State | None:
    """Store the validated bytes as the image's blob; returns the piece's new
    state if the resumable store adopted them (on S3 they are in the bucket
    already, at this key: nothing is sent up again)."""
    adopted = await resumable.adopt(pieces, image.blob_key, image.mime_type)
    if adopted is None:
        await store.put_file(image.blob_key, path, image.mime_type)
    return adopted


async def discard(resumable: ResumableStore, pieces: list[Piece]) -> None:
    """Remove the pieces' bytes from the resumable store (not a blob they became)."""
    for piece in pieces:
        await resumable.discard(piece.upload_id, piece.state)
