"""Permanent purge: every byte of an image, then its rows. Resumable.

A purge is a small state machine whose state is in the database, so a crash
at any point leaves something the next sweep finishes:

1. *marked* — ``trash.purging_since`` is set and committed (the route for
   ``DELETE ?permanent=true``, or the sweep for windows that ended). From then
   on a restore answers 410 and the purge only moves forward.
2. *bytes* — every blob under the image's prefix (``{owner}/{image}/``:
   original, GPS-free copy, presets, cached transforms) is deleted, then the
   bytes of the uploads that brought it (presigned objects, tus partials).
   Deleting a missing blob is not an error, so this step repeats safely.
3. *rows* — one transaction: quota usage is freed
   (``quotas.usage.image_purged``), a ``purged_images`` tombstone is written,
   the uploads rows go, and the image row is deleted; ON DELETE CASCADE takes
   its tags, trash entry, album entries, collaborators, share links, search
   row, view counts and jobs with it.

A legal hold (an image taken down, ``images.services.on_legal_hold``)
stops a purge before step 2: the image stays marked, its bytes and rows kept,
and the sweep passes over it until the hold is lifted, then finishes it.

The row outlives its bytes (never the other way round), so there is never a
live row pointing at a missing blob, and a blob never loses the row that
leads the sweep back to it. A derivative written after step 2 by a render or
processing job that was already running is a blob without a row: gc removes
it once older than ``IMGHOST_GC_GRACE``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.db import utcnow
from imghost.errors import NotFound
from imghost.images import services as images
from imghost.images.models import Image
from imghost.lifecycle import services
from imghost.lifecycle.models import PurgedImage, TrashEntry
from imghost.quotas import usage
from imghost.storage import BlobStore
from imghost.storage.resumable import ResumableStore
from imghost.uploads.models import Upload

log = logging.getLogger(__name__)

# Images finished per sweep; the rest wait for the next run.
SWEEP_BATCH = 500


@dataclass(frozen=True)
class PurgeDeps:
    """What a purge needs, handed over by the composition root."""

    sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    # Where the bytes of tus uploads are until they are whole.
    resumable: ResumableStore
    # IMGHOST_TRASH_RETENTION: the window given to deleted images adopted by a sweep.
    trash_retention: int


@dataclass
class SweepReport:
    adopted: int = 0  # deleted images that had no trash entry and got one
    marked: int = 0  # windows that ended: purge begun
    purged: int = 0
    failed: int = 0  # left marked; the next sweep retries them


@dataclass(frozen=True)
class _UploadBytes:
    id: str
    kind: str
    blob_key: str
    storage: dict[str, Any] | None
    cleaned: bool


def _uploads_of(image_id: str) -> Any:
    return or_(Upload.image_id == image_id, Upload.reserved_image_id == image_id)


async def purge_image(deps: PurgeDeps, image_id: str, now: dt.datetime | None = None) -> bool:
    """Finish the purge of an image marked for it (steps 2 and 3 above).

    True when the image is gone (now or before); False when it is not marked
    for purge (nothing was done). Raises if the store or the database fails:
    the image stays marked and a later sweep resumes."""
    async with deps.sessions() as session:
        row = (
            await session.execute(
                select(
                    Image.blob_key,
                    Image.public_blob_key,
                    TrashEntry.purging_since,
                    Image.withheld,
                )
                .join(TrashEntry, TrashEntry.image_id == Image.id)
                .where(Image.id == image_id)
            )
        ).first()
        if row is None:
            return await session.get(PurgedImage, image_id) is not None
        blob_key, public_key, purging_since, withheld = row
        if purging_since is None or withheld == images.TAKEDOWN:
            return False  # not marked, or under legal hold: nothing is removed
        uploads = [
            _UploadBytes(u.id, u.kind, u.blob_key, u.storage, u.cleaned_at is not None)
            for u in await session.scalars(select(Upload).where(_uploads_of(image_id)))
        ]

    await _delete_bytes(deps, blob_key, public_key, uploads)

    async with deps.sessions() as session:
        done = await _delete_rows(session, image_id, now or utcnow())
        await session.commit()
    log.info("purged image %s", image_id)
    return done


async def _delete_bytes(
    deps: PurgeDeps, blob_key: str, public_key: str | None, uploads: list[_UploadBytes]
) -> None:
    store = deps.store
    keys = await _list(store, services.image_prefix(blob_key))
    keys.discard(blob_key)
    if public_key:
        keys.add(public_key)
    # The original goes last: until it is gone, listing the store still
    # shows this image's prefix, whatever else was already removed.
    for key in [*sorted(keys), blob_key]:
        await store.delete(key)
    for upload in uploads:
        if upload.kind == "tus":
            if not upload.cleaned:
                await deps.resumable.discard(upload.id, upload.storage or {})
        elif upload.blob_key != blob_key:
            await store.delete(upload.blob_key)


async def _list(store: BlobStore, prefix: str) -> set[str]:
    # The local store stats each file as it walks: a file deleted meanwhile
    # (by a purge of the same image running at the same moment) fails the
    # walk with FileNotFoundError. Listing again sees the directory as it is.
    for _ in range(4):
        try:
            return {m.key async for m in store.list(prefix)}
        except FileNotFoundError:
            continue
    return {m.key async for m in store.list(prefix)}


async def _delete_rows(session: AsyncSession, image_id: str, now: dt.datetime) -> bool:
    # Locks the row on PostgreSQL, so two purges of one image (the route and
    # a sweep) free its quota once: the second finds no row.
    image = await session.get(Image, image_id, with_for_update=True)
    if image is None:
        return True
    entry = await session.get(TrashEntry, image_id)
    if entry is None:
        # Without row locks (SQLite) another purge may have finished between
        # the two reads: then its tombstone is there.
        return await session.get(PurgedImage, image_id) is not None
    if entry.purging_since is None or images.on_legal_hold(image):
        return False  # (taken down while its bytes went: the rows stay)
    await usage.image_purged(session, image)
    await images.announce(session, image, "image.purged")
    if await session.get(PurgedImage, image_id) is None:
        session.add(
            PurgedImage(
                image_id=image.id,
                owner_id=image.owner_id,
                org_id=image.org_id,
                deleted_at=image.deleted_at,
                purged_at=now,
            )
        )
    await session.execute(delete(Upload).where(_uploads_of(image_id)))
    # One statement; ON DELETE CASCADE takes the rest. A purge that ran at the
    # same moment (SQLite has no row lock) may have deleted it first: either
    # way the image is gone.
    await session.execute(
        delete(Image).where(Image.id == image_id).execution_options(synchronize_session=False)
    )
    session.expunge(image)
    return True


async def sweep(deps: PurgeDeps, now: dt.datetime | None = None) -> SweepReport:
    """One run of the scheduled purge: begin the purge of every image whose
    window ended at ``now``, then finish every marked one (including those a
    crashed process left half done). Idempotent; safe in several processes."""
    now = now or utcnow()
    report = SweepReport()
    async with deps.sessions() as session:
        report.adopted = await _adopt_untracked(session, deps.trash_retention)
        report.marked = await services.mark_due(session, now)
        await session.commit()
        ids = list(
            await session.scalars(
                select(TrashEntry.image_id)
                .join(Image, Image.id == TrashEntry.image_id)
                .where(TrashEntry.purging_since.is_not(None), not_on_hold())
                .order_by(TrashEntry.purging_since, TrashEntry.image_id)
                .limit(SWEEP_BATCH)
            )
        )
    for image_id in ids:
        try:
            if await purge_image(deps, image_id, now):
                report.purged += 1
        except Exception:
            log.warning("purge of %s failed; the next sweep resumes it", image_id, exc_info=True)
            report.failed += 1
    if report.marked or report.purged or report.failed:
        log.info("purge sweep: %s", report)
    return report


def not_on_hold() -> Any:
    """Images no legal hold keeps (``Image`` in the query)."""
    return or_(Image.withheld.is_(None), Image.withheld != images.TAKEDOWN)


async def pending(
    sessions: async_sessionmaker[AsyncSession], now: dt.datetime | None = None
) -> tuple[int, int]:
    """(windows ended but not yet marked, marked but not finished): what a
    sweep would do now, for ``imghost gc --dry-run``."""
    now = now or utcnow()
    async with sessions() as session:
        counted = select(func.count()).select_from(TrashEntry)
        due = await session.scalar(
            counted.where(TrashEntry.purge_at <= now, TrashEntry.purging_since.is_(None))
        )
        marked = await session.scalar(counted.where(TrashEntry.purging_since.is_not(None)))
    return int(due or 0), int(marked or 0)


async def _adopt_untracked(session: AsyncSession, retention: int) -> int:
    """Deleted images without a trash entry (deleted by code that predates the
    trash) get one, so none escapes the purge."""
    untracked = await session.scalars(
        select(Image)
        .outerjoin(TrashEntry, TrashEntry.image_id == Image.id)
        .where(Image.deleted_at.is_not(None), TrashEntry.image_id.is_(None))
        .limit(SWEEP_BATCH)
    )
    count = 0
    for image in untracked.all():
        try:
            await services.ensure_entry(session, image, retention)
        except NotFound:
            continue  # purged meanwhile
        count += 1
    return count
