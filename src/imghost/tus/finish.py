"""Turn an upload whose last byte has arrived into an image.

The bytes are validated exactly like a direct upload's (same probe, same
error codes). Success: the image row, its processing job and the upload's
``completed`` status commit together, then the partial bytes are removed.
A 4xx: the upload is marked ``failed`` with the code, and every byte of it
is removed. A 5xx (e.g. no memory to decode right now) or a 429 (the
caller's validation queue is full) leaves the upload whole and pending: the
client's next PATCH at the final offset retries.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.albums.uploads import with_album
from imghost.context import AppContext
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.images.models import Image
from imghost.quotas import services as quotas
from imghost.storage.resumable import Piece, State
from imghost.tus import services
from imghost.uploads import services as uploads
from imghost.uploads.models import Upload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assembled:
    path: Path
    size: int
    sha256: str


async def seal(ctx: AppContext, db: AsyncSession, upload: Upload, token: str) -> Piece:
    """Make a whole upload's bytes readable and record that (committed)."""
    assert upload.size is not None
    state = await ctx.resumable.seal(upload.id, upload.size, upload.storage or {})
    await services.save_progress(db, ctx.settings, upload.id, token, upload.size, state)
    await db.commit()
    return Piece(upload.id, upload.size, state)


async def finish(
    ctx: AppContext, db: AsyncSession, upload: Upload, token: str, pieces: list[Piece]
) -> Image:
    """Validate the assembled ``pieces`` as ``upload``'s image; commits either way.

    Only while this request holds the lease: if it ran out and another request
    took the upload (to finish or end it), this one answers 423 and touches
    nothing, not even the image's blob (the other request may be writing it,
    under the same reserved key)."""
    upload_id = upload.id
    # Its quota reservations (read now: a rollback below expires ``upload``).
    reservations = quotas.upload_reservations(upload)
    try:
        image, adopted = await _store_image(ctx, db, upload, token, pieces)
        done: dict[str, Any] = {"status": "completed", "image_id": image.id}
        if adopted is not None:
            # From now on the bytes are the image's: discard must leave them.
            pieces = [Piece(pieces[0].upload_id, pieces[0].size, adopted)]
            done["storage"] = adopted
        finished = await db.execute(
            update(Upload)
            .where(Upload.id == upload_id, Upload.lock_token == token, Upload.status == "pending")
            .values(lock_token=None, locked_until=None, **done)
            .execution_options(synchronize_session=False)
        )
        if getattr(finished, "rowcount", 0) != 1:
            raise services.LeaseLost
        # The reservations (covered before the bytes were stored) become the
        # image's size in the image's commit.
        await quotas.charge_image(db, ctx.settings, image, reservations)
        if adopted is None:
            await uploads.commit_or_discard(db, ctx.store, image.blob_key)
        else:
            # The blob is the upload's own sealed object: if the commit fails
            # it stays, as the upload does (pending), so a retry can use it.
            await db.commit()
    except services.LeaseLost:
        await db.rollback()
        raise
    except AppError as exc:
        await db.rollback()
        if exc.status >= 500 or exc.status == 429:  # not the file's fault: retry later
            await services.release(db, upload_id, token)
            await db.commit()
            raise
        failed = await services.release(
            db, upload_id, token, status="failed", error_code=exc.code, error_detail=exc.detail
        )
        if failed:
            await quotas.release(db, reservations)
        await db.commit()
        if failed:
            await discard(ctx, db, upload_id, pieces)
        raise
    ctx.wake_jobs()
    await discard(ctx, db, upload_id, pieces)
    return image


async def discard(ctx: AppContext, db: AsyncSession, upload_id: str, pieces: list[Piece]) -> None:
    """Remove a finished upload's partial bytes (gc retries what fails here)."""
    try:
        for piece in pieces:
            await ctx.resumable.discard(piece.upload_id, piece.state)
        await db.execute(
            update(Upload)
            .where(Upload.id.in_([upload_id, *(p.upload_id for p in pieces)]))
            .values(cleaned_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        await db.commit()
    except Exception:
        await db.rollback()
        log.warning("could not remove the bytes of upload %s; gc will", upload_id, exc_info=True)


async def _keep_lease(db: AsyncSession, upload: Upload, token: str) -> None:
    await services.renew(db, upload.id, token)
    await db.commit()


async def _store_image(
    ctx: AppContext, db: AsyncSession, upload: Upload, token: str, pieces: list[Piece]
) -> tuple[Image, State | None]:
    """Validate and store the image (row added, not committed); the second
    value is the piece's new state if the resumable store adopted the bytes."""
    staging = ctx.store.staging_dir
    staging.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="tus-", dir=staging)
    path = Path(name)
    try:
        os.close(fd)
        # Assembly and decoding can take a while: the lease is renewed after each.
        await _keep_lease(db, upload, token)
        await ctx.resumable.assemble(pieces, path)
        await _keep_lease(db, upload, token)
        size = sum(p.size for p in pieces)
        digest = await anyio.to_thread.run_sync(uploads.sha256_file, path)
        # The album permission was checked at creation; it is checked again
        # now, as it may have been revoked (or the album deleted) meanwhile.
        fields = await with_album(
            db, await services.uploader(db, upload), services.image_fields(upload)
        )
        # End those reads' transaction before the validation (seconds): no
        # pooled connection is held meanwhile. Commit, not rollback, so that
        # ``upload`` stays loaded.
        await db.commit()
        image = await uploads.check_new_image(
            ctx.settings,
            upload.owner_id,
            fields,
            Assembled(path, size, digest),
            upload.filename,
            upload.reserved_image_id,
        )
        # Before the bytes are stored: the upload's reservations must cover the
        # image's size on its account (topped up here, committed with the lease
        # renewal below), or 413 if the rest does not fit.
        await quotas.cover_image(db, ctx.settings, image, quotas.upload_reservations(upload))
        await _keep_lease(db, upload, token)
        # On S3 the validated bytes are in the bucket already, at this key:
        # nothing is sent up again.
        adopted = await ctx.resumable.adopt(pieces, image.blob_key, image.mime_type)
        if adopted is None:
            await ctx.store.put_file(image.blob_key, path, image.mime_type)
        uploads.add_new_image(db, image, ctx.settings, fields.album_id)
        return image, adopted
    finally:
        path.unlink(missing_ok=True)  # noqa: ASYNC240 - one metadata op
