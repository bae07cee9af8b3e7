"""Collect resumable uploads: expire idle ones, remove bytes nobody will use.

- a pending (or unconcatenated partial) upload past ``expires_at`` becomes
  ``expired`` and loses its bytes (S3: the multipart upload is aborted);
- a finished upload whose bytes are still there (the request that finished
  it could not remove them) loses them now;
- bytes in the resumable store that belong to no open upload and are older
  than the grace period (a crash between creating them and recording them)
  are removed; S3 multipart uploads, wherever they are, when no open upload
  records their id.
An upload whose lease is held by a request in progress is left alone.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.context import AppContext
from imghost.uploads.models import Upload

log = logging.getLogger(__name__)

OPEN = ("pending", "uploaded")
FINISHED = ("completed", "failed", "terminated", "concatenated", "expired")


@dataclass
class TusReport:
    expired: int = 0
    cleaned: int = 0
    leftovers: int = 0


async def collect_uploads(
    ctx: AppContext, session: AsyncSession, now: dt.datetime, grace: int
) -> TusReport:
    report = TusReport()
    due = await session.scalars(
        select(Upload).where(
            Upload.kind == "tus",
            Upload.cleaned_at.is_(None),
            or_(
                Upload.status.in_(FINISHED),
                and_(Upload.status.in_(OPEN), Upload.expires_at < now),
            ),
            or_(Upload.locked_until.is_(None), Upload.locked_until < now),
        )
    )
    for upload in due:
        try:
            await ctx.resumable.discard(upload.id, upload.storage or {})
        except Exception:
            log.warning("gc: could not remove the bytes of upload %s", upload.id, exc_info=True)
            continue
        if upload.status in OPEN:
            upload.status = "expired"
            report.expired += 1
        else:
            report.cleaned += 1
        upload.cleaned_at = now
        await session.commit()

    old = [item for item in await ctx.resumable.leftovers() if item.age_seconds > grace]
    owned = await _open_uploads(session, [item.upload_id for item in old if item.upload_id])
    multiparts: set[str] = set()
    if any(item.handle for item in old):
        # Multipart uploads are known by id only: the ones open uploads record.
        states = await session.scalars(
            select(Upload.storage).where(Upload.kind == "tus", Upload.status.in_(OPEN))
        )
        multiparts = {str(state.get("multipartId")) for state in states if state}
    for item in old:
        kept = item.handle in multiparts if item.handle else item.upload_id in owned
        if kept:
            continue
        await ctx.resumable.remove_leftover(item)
        report.leftovers += 1
    return report


async def _open_uploads(session: AsyncSession, upload_ids: list[str]) -> set[str]:
    ids = list(set(upload_ids))
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        found.update(
            await session.scalars(
                select(Upload.id).where(
                    Upload.id.in_(ids[start : start + 500]), Upload.status.in_(OPEN)
                )
            )
        )
    return found
