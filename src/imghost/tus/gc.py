"""Collect resumable uploads: expire idle ones, remove bytes nobody will use.

- a pending (or unconcatenated partial) upload past ``expires_at`` becomes
  ``expired`` and loses its bytes (S3: the multipart upload is aborted);
- a finished upload whose bytes are still there (the request that finished
  it could not remove them) loses them now; a concatenated partial's bytes
  only once its final upload is finished too (until then the final upload
  may still need them: its assembly is retried after a 5xx);
- bytes in the resumable store that belong to no upload still holding bytes
  and are older than the grace period (a crash between creating them and
  recording them) are removed; S3 multipart uploads, wherever they are, when
  no such upload records their id.
An upload whose lease is held by a request in progress is left alone.

This is a step of gc's job, in the job's session, which it never commits:
it yields wherever what it wrote must be committed before it goes on, and
the job commits there (an upload is marked expired, and that committed,
before its bytes go; each removal is recorded in a commit of its own, so
no write lock is held across the store's calls).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.images.services import original_key
from imghost.storage.resumable import ResumableStore
from imghost.tus.services import mark_cleaned
from imghost.uploads.models import Upload

log = logging.getLogger(__name__)

OPEN = ("pending", "uploaded")
FINISHED = ("completed", "failed", "terminated", "expired")


@dataclass
class TusReport:
    expired: int = 0
    cleaned: int = 0
    leftovers: int = 0


def _idle(now: dt.datetime) -> ColumnElement[bool]:
    return or_(Upload.locked_until.is_(None), Upload.locked_until < now)


async def collect_uploads(
    resumable: ResumableStore,
    session: AsyncSession,
    now: dt.datetime,
    grace: int,
    report: TusReport,
) -> AsyncGenerator[None]:
    """Collect the uploads (counted in ``report``); the caller commits at each
    yield (run it under ``contextlib.aclosing``)."""
    due = (
        await session.scalars(
            select(Upload).where(
                Upload.kind == "tus",
                Upload.cleaned_at.is_(None),
                or_(
                    Upload.status.in_((*FINISHED, "concatenated")),
                    and_(Upload.status.in_(OPEN), Upload.expires_at < now),
                ),
                _idle(now),
            )
        )
    ).all()
    # Read after the partials above: a final upload claims its partials in the
    # commit that creates it, so each concatenated partial seen is listed here
    # if its final upload is still pending.
    needed = await _needed_partials(session) if any(u.concat == "partial" for u in due) else set()
    for upload in due:
        if upload.status == "concatenated" and upload.id in needed:
            continue
        if upload.status in OPEN:
            # Only if still idle and unclaimed: since the query a request may
            # have taken its lease, or a final upload claimed the partial.
            marked = await session.execute(
                update(Upload)
                .where(
                    Upload.id == upload.id,
                    Upload.status == upload.status,
                    Upload.expires_at < now,
                    _idle(now),
                )
                .values(status="expired")
                .execution_options(synchronize_session=False)
            )
            yield  # committed before its bytes go
            if getattr(marked, "rowcount", 0) != 1:
                continue
            report.expired += 1
        try:
            await resumable.discard(upload.id, upload.storage or {})
        except Exception:
            # Expired or not, it is retried as a finished upload next time.
            log.warning("gc: could not remove the bytes of upload %s", upload.id, exc_info=True)
            continue
        if upload.status not in OPEN:
            report.cleaned += 1
        await mark_cleaned(session, [upload.id], now)
        yield

    old = [item for item in await resumable.leftovers() if item.age_seconds > grace]
    owned = await _holding_bytes(session, [item.upload_id for item in old if item.upload_id])
    multiparts: set[str] = set()
    if any(item.handle for item in old):
        # Multipart uploads are known by id only: the ones open uploads record.
        states = await session.scalars(
            select(Upload.storage).where(Upload.kind == "tus", _unclean())
        )
        multiparts = {str(state.get("multipartId")) for state in states if state}
    for item in old:
        kept = item.handle in multiparts if item.handle else item.upload_id in owned
        if kept:
            continue
        await resumable.remove_leftover(item)
        report.leftovers += 1


def _unclean() -> ColumnElement[bool]:
    """Uploads whose bytes are still theirs: open, or finished but not yet cleaned."""
    return or_(Upload.status.in_(OPEN), Upload.cleaned_at.is_(None))


async def _needed_partials(session: AsyncSession) -> set[str]:
    """Partial uploads a pending final upload is made of."""
    lists = await session.scalars(
        select(Upload.partials).where(
            Upload.kind == "tus", Upload.concat == "final", Upload.status == "pending"
        )
    )
    return {str(pid) for ids in lists if ids for pid in ids}


async def _holding_bytes(session: AsyncSession, upload_ids: list[str]) -> set[str]:
    ids = list(set(upload_ids))
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        found.update(
            await session.scalars(
                select(Upload.id).where(Upload.id.in_(ids[start : start + 500]), _unclean())
            )
        )
    return found


async def reserved_originals(session: AsyncSession) -> set[str]:
    """Original keys reserved by tus uploads not yet finished and cleaned.

    On S3 such an upload's bytes are at the key before any image row exists,
    and look old (a completed multipart upload's Last-Modified is its start)."""
    rows = await session.execute(
        select(Upload.owner_id, Upload.reserved_image_id).where(
            Upload.kind == "tus",
            Upload.reserved_image_id.is_not(None),
            Upload.cleaned_at.is_(None),
        )
    )
    return {original_key(owner, image_id) for owner, image_id in rows if image_id}
