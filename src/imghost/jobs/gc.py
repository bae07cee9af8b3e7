"""Garbage collection of bytes nobody references.

- pending presigned uploads past their expiry: object removed, row marked expired;
- upload objects left after a finalize (the image committed, the delete did not);
- originals with no image row, older than the grace period (a crash between
  the blob write and the row commit), except at the keys unfinished tus
  uploads reserved (their bytes are there before the row);
- stale spool files in the staging directory;
- resumable (tus) uploads: see ``imghost.tus.gc``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass

import anyio
from sqlalchemy import select

from imghost.context import AppContext
from imghost.db import utcnow
from imghost.images.models import Image
from imghost.tus.gc import collect_uploads, reserved_originals
from imghost.uploads.models import Upload

log = logging.getLogger(__name__)


@dataclass
class GcReport:
    expired_uploads: int = 0
    upload_objects: int = 0
    orphan_blobs: int = 0
    staging_files: int = 0
    tus_expired: int = 0
    tus_cleaned: int = 0
    tus_leftovers: int = 0


async def collect(ctx: AppContext, grace: int | None = None) -> GcReport:
    grace = ctx.settings.gc_grace if grace is None else grace
    report = GcReport()
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=grace)
    store = ctx.store
    async with ctx.sessions() as session:
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

        tus = await collect_uploads(ctx, session, now, grace)
        report.tus_expired, report.tus_cleaned = tus.expired, tus.cleaned
        report.tus_leftovers = tus.leftovers

        originals = [
            m.key async for m in store.list("") if m.last_modified < cutoff and _is_original(m.key)
        ]
        # Read before the image rows: an upload that finishes in between has
        # committed its image row by the time that is read.
        reserved = await reserved_originals(session)
        for batch in _batches(originals):
            known = set(
                await session.scalars(select(Image.blob_key).where(Image.blob_key.in_(batch)))
            )
            for key in batch:
                if key not in known and key not in reserved:
                    await store.delete(key)
                    report.orphan_blobs += 1
    report.staging_files = await anyio.to_thread.run_sync(_sweep_staging, ctx, grace)
    log.info("gc: %s", report)
    return report


def _is_original(key: str) -> bool:
    parts = key.split("/")
    return len(parts) == 3 and parts[2] == "original"


def _batches(keys: list[str], size: int = 500) -> list[list[str]]:
    return [keys[i : i + size] for i in range(0, len(keys), size)]


# Temp files of uploads (direct, and tus ones being assembled), processing
# jobs and on-demand renders (and the ".public" GPS-free copies made next to
# job files).
SPOOL_PREFIXES = ("upload-", "job-", "render-", "tus-")


def _sweep_staging(ctx: AppContext, grace: int) -> int:
    removed = 0
    limit = time.time() - max(grace, 3600)  # a spool may belong to a slow upload
    try:
        entries = list(os.scandir(ctx.store.staging_dir))
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
