"""Garbage collection of bytes nobody references.

- pending presigned uploads past their expiry: object removed, row marked expired;
- upload objects left after a finalize (the image committed, the delete did not);
- blobs under an image prefix (``{owner}/{image}/``: original, GPS-free copy,
  presets, cached transforms) with no image row, older than the grace period
  (a crash between the blob write and the row commit; a render that finished
  after a purge; an org deleted with its images), except originals at the keys
  unfinished tus uploads reserved (their bytes are there before the row);
- cached renditions of live images whose ``renditions`` row is gone (evicted
  or forgotten, and the blob delete did not happen), older than the grace
  period (see ``imghost.processing.rendition_cache``);
- stale spool files in the staging directory;
- resumable (tus) uploads: see ``imghost.tus.gc``.

A dry run (``imghost gc --dry-run``) also looks the other way: image rows
whose original (or GPS-free copy) is missing from the store are *dangling*.
gc cannot repair them (the bytes are lost); it reports them. Rows of images
being purged are not dangling: their bytes are going on purpose and the
purge sweep finishes them.

``dry_run`` changes nothing and reports what a run would remove (uploads
and tus uploads are then not examined: their collection is state changes).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.db import utcnow
from imghost.images.models import Image
from imghost.lifecycle.models import TrashEntry
from imghost.processing.rendition_cache import untracked
from imghost.quotas.services import release_stale
from imghost.storage import BlobStore
from imghost.storage.resumable import ResumableStore
from imghost.tus.gc import TusReport, collect_uploads, reserved_originals
from imghost.uploads.models import Upload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GcDeps:
    """What gc needs, handed over by the composition root."""

    sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    resumable: ResumableStore
    # IMGHOST_GC_GRACE: how old an unreferenced blob must be before it goes.
    grace: int


@dataclass
class GcReport:
    expired_uploads: int = 0
    upload_objects: int = 0
    orphan_blobs: int = 0
    staging_files: int = 0
    tus_expired: int = 0
    tus_cleaned: int = 0
    tus_leftovers: int = 0
    quota_reservations: int = 0
    # Cached renditions of live images with no row in the rendition cache.
    untracked_renditions: int = 0
    dry_run: bool = False
    # Image rows whose original or GPS-free copy is missing from the store.
    dangling_rows: int = 0
    # Examples (at most EXAMPLES of each), for the operator to look at.
    orphan_keys: list[str] = field(default_factory=list)
    dangling_images: list[str] = field(default_factory=list)


EXAMPLES = 20


async def collect(
    deps: GcDeps,
    grace: int | None = None,
    dry_run: bool = False,
    check_rows: bool | None = None,
) -> GcReport:
    """One gc run. ``check_rows`` (default: only in a dry run) also looks for
    image rows whose blobs are missing: a scan of every image row, so regular
    runs leave it to ``imghost gc --dry-run``."""
    grace = deps.grace if grace is None else grace
    check_rows = dry_run if check_rows is None else check_rows
    report = GcReport(dry_run=dry_run)
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=grace)
    async with deps.sessions() as session:
        if not dry_run:
            await _collect_uploads(deps, session, report, now, cutoff, grace)

        # Read before any image row: a tus upload that finishes meanwhile has
        # committed its image row by the time rows are read; one reserved
        # after this read has bytes younger than the grace period.
        reserved = await reserved_originals(session)
        listed_at = utcnow()
        # Keys of the row-bearing blobs, for the check the other way round.
        present: set[str] = set()
        # The store lists an image's keys together (S3 in key order, local
        # files a directory at a time), so they are checked a few hundred
        # images at a time and memory stays bounded whatever the store holds.
        pending: dict[str, list[tuple[str, bool]]] = {}
        async for meta in deps.store.list(""):
            prefix = _image_prefix(meta.key)
            if prefix is None:
                continue
            if check_rows and meta.key.endswith(("/original", "/original-nogps")):
                present.add(meta.key)
            pending.setdefault(prefix, []).append((meta.key, meta.last_modified < cutoff))
            if len(pending) >= 500:
                await _collect_orphans(deps, session, pending, reserved, report)
                pending = {}
        if pending:
            await _collect_orphans(deps, session, pending, reserved, report)
        if check_rows:
            await _find_dangling(session, report, present, listed_at)
    if not dry_run:
        report.staging_files = await anyio.to_thread.run_sync(
            _sweep_staging, deps.store.staging_dir, grace
        )
    log.info("gc: %s", report)
    if report.dangling_rows:
        log.warning(
            "gc: %d image rows point at missing blobs, e.g. %s",
            report.dangling_rows,
            ", ".join(report.dangling_images),
        )
    return report


async def _collect_orphans(
    deps: GcDeps,
    session: AsyncSession,
    keys: dict[str, list[tuple[str, bool]]],
    reserved: set[str],
    report: GcReport,
) -> None:
    """Delete (or, in a dry run, count) the old keys of images without a row."""
    ids = [prefix.split("/")[1] for prefix in keys]
    rows = await session.scalars(select(Image.blob_key).where(Image.id.in_(ids)))
    known = {key.rsplit("/", 1)[0] + "/" for key in rows}
    # Old keys of live images that only the rendition cache accounts for.
    cached = [key for prefix in known for key, old in keys.get(prefix, []) if old]
    for key in await untracked(session, cached):
        if not report.dry_run:
            await deps.store.delete(key)
        report.untracked_renditions += 1
    for prefix, found in keys.items():
        if prefix in known:
            continue
        for key, old in found:
            if not old or key in reserved:
                continue
            if not report.dry_run:
                await deps.store.delete(key)
            report.orphan_blobs += 1
            if len(report.orphan_keys) < EXAMPLES:
                report.orphan_keys.append(key)


async def _collect_uploads(
    deps: GcDeps,
    session: AsyncSession,
    report: GcReport,
    now: dt.datetime,
    cutoff: dt.datetime,
    grace: int,
) -> None:
    store = deps.store
    expired = await session.scalars(
        select(Upload).where(
            Upload.kind == "presigned", Upload.status == "pending", Upload.expires_at < now
        )
    )
    for upload in expired:
        await store.delete(upload.blob_key)
        upload.status = "expired"
        report.expired_uploads += 1
    await session.commit()

    # Objects are checked against the DB in batches, and only once they are
    # older than the grace period (a young one may belong to an upload that
    # is still committing).
    candidates = [m.key async for m in store.list("uploads/") if m.last_modified < cutoff]
    for batch in _batches(candidates):
        live = set(
            await session.scalars(
                select(Upload.blob_key).where(
                    Upload.blob_key.in_(batch), Upload.status == "pending"
                )
            )
        )
        for key in batch:
            if key not in live:
                await store.delete(key)
                report.upload_objects += 1

    tus = TusReport()
    # tus's step writes in this session and yields where that must be committed.
    async with contextlib.aclosing(
        collect_uploads(deps.resumable, session, now, grace, tus)
    ) as steps:
        async for _ in steps:
            await session.commit()
    report.tus_expired, report.tus_cleaned = tus.expired, tus.cleaned
    report.tus_leftovers = tus.leftovers
    # Quota reservations of uploads that expired or ended, and of direct
    # uploads whose process died mid-request.
    report.quota_reservations = await release_stale(session, now)
    await session.commit()


async def _find_dangling(
    session: AsyncSession, report: GcReport, present: set[str], listed_at: dt.datetime
) -> None:
    """Image rows (live or in the trash, not being purged) whose bytes the
    listing did not show. Only rows created before the listing began: a row
    committed since may have bytes the listing did not see yet."""
    purging = select(TrashEntry.image_id).where(TrashEntry.purging_since.is_not(None))
    rows = await session.stream(
        select(Image.id, Image.blob_key, Image.public_blob_key, Image.processed_at)
        .where(Image.created_at < listed_at, Image.id.not_in(purging))
        .execution_options(yield_per=1000)
    )
    async for image_id, blob_key, public_key, processed_at in rows:
        if blob_key in present and (public_key is None or public_key in present):
            continue
        if blob_key in present and processed_at is not None and processed_at >= listed_at:
            continue  # its GPS-free copy was written after the listing began
        report.dangling_rows += 1
        if len(report.dangling_images) < EXAMPLES:
            report.dangling_images.append(image_id)


def _image_prefix(key: str) -> str | None:
    """``{owner}/{image}/…`` → ``{owner}/{image}/``; None for keys of uploads."""
    parts = key.split("/")
    if len(parts) < 3 or not parts[1].startswith("img_") or parts[0] in ("uploads", "tus"):
        return None
    return f"{parts[0]}/{parts[1]}/"


def _batches(keys: list[str], size: int = 500) -> list[list[str]]:
    return [keys[i : i + size] for i in range(0, len(keys), size)]


# Temp files of uploads (direct, and tus ones being assembled), processing
# jobs and on-demand renders (and the ".public" GPS-free copies made next to
# job files).
SPOOL_PREFIXES = ("upload-", "job-", "render-", "tus-")


def _sweep_staging(staging_dir: Path, grace: int) -> int:
    removed = 0
    limit = time.time() - max(grace, 3600)  # a spool may belong to a slow upload
    try:
        entries = list(os.scandir(staging_dir))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if (
                entry.is_file()
                and entry.name.startswith(SPOOL_PREFIXES)
                and entry.stat().st_mtime < limit
            ):
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
    return removed
