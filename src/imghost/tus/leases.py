"""The upload's write lease and the states it moves an upload through.

The lease is the cross-process lock the tus spec asks for: a conditional
UPDATE takes it only when it is free or stale, so two requests on one upload
never write at once, whichever API processes they reach, and a crashed
process's lease simply runs out. It lasts ``IMGHOST_TUS_LEASE`` seconds from
its holder's last renewal: a streaming body renews it well before that
(``tus.receive`` says how often) and finishing renews it between its steps,
so only a request that has died holds it that long, and that is how long
its upload answers 423 to a retry. (One step may outlast a short lease: the
image's validation, up to ``IMGHOST_VALIDATION_TIMEOUT``. A retry may then
take the upload over, and the slow request finds out at its next write.)
Every write here is conditional on the holder's token, so a request whose
lease ran out (and was taken over) changes nothing.

States: ``pending`` (bytes arriving) becomes ``uploaded`` (a whole partial
upload, waiting to be concatenated; then ``concatenated``), ``completed`` (an
image), ``failed`` (its bytes were refused), ``terminated`` (DELETE) or
``expired`` (gc).

Functions here flush and never commit: the caller (``tus.flow``) commits
where another process must see the lease.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.errors import AppError
from imghost.ids import new_id
from imghost.settings import TusSettings
from imghost.storage.resumable import State
from imghost.tus.services import check_open, not_found
from imghost.uploads.models import Upload

#: Statuses of an upload whose every byte has arrived (nothing more to write).
WHOLE = ("completed", "uploaded", "concatenated")


class LeaseLost(AppError):
    """This request's lease was taken over by another one (it ran out)."""

    def __init__(self) -> None:
        super().__init__(
            423,
            "upload_locked",
            "This request lost its hold on the upload to another one; retry from HEAD.",
        )


def _until(settings: TusSettings, now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=settings.tus_lease)


async def acquire(session: AsyncSession, settings: TusSettings, upload_id: str) -> str:
    """Take the upload's write lease (flushed, not committed) or fail with 423."""
    token = new_id("lck")
    now = utcnow()
    taken = await session.execute(
        update(Upload)
        .where(
            Upload.id == upload_id,
            or_(Upload.lock_token.is_(None), Upload.locked_until < now),
        )
        .values(lock_token=token, locked_until=_until(settings, now))
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        raise AppError(
            423,
            "upload_locked",
            "Another request is writing to this upload right now; retry in a moment.",
            headers={"Retry-After": "2"},
        )
    return token


def lease_new(upload: Upload, settings: TusSettings) -> str:
    """The lease of an upload this request is creating (no one else can see it yet)."""
    token = new_id("lck")
    upload.lock_token = token
    upload.locked_until = _until(settings, utcnow())
    return token


async def save_progress(
    session: AsyncSession,
    settings: TusSettings,
    upload_id: str,
    token: str,
    offset: int,
    state: State,
    **values: Any,
) -> None:
    """Record durable bytes under the lease (and renew it); 423 if it was lost."""
    now = utcnow()
    saved = await session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.lock_token == token)
        .values(
            offset=offset,
            storage=state,
            locked_until=_until(settings, now),
            expires_at=now + dt.timedelta(seconds=settings.tus_expires),
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(saved, "rowcount", 0) != 1:
        raise LeaseLost


async def renew(session: AsyncSession, settings: TusSettings, upload_id: str, token: str) -> None:
    """Extend the lease before a long step (flushed, not committed); LeaseLost if gone."""
    renewed = await session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.lock_token == token)
        .values(locked_until=_until(settings, utcnow()))
        .execution_options(synchronize_session=False)
    )
    if getattr(renewed, "rowcount", 0) != 1:
        raise LeaseLost


async def release(session: AsyncSession, upload_id: str, token: str, **values: Any) -> bool:
    """Give the lease up (setting ``values``); False if it was not ours any more."""
    released = await session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.lock_token == token)
        .values(lock_token=None, locked_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return getattr(released, "rowcount", 0) == 1


async def complete(
    session: AsyncSession,
    upload_id: str,
    token: str,
    image_id: str,
    adopted: State | None,
    *,
    fields: dict[str, Any] | None = None,
) -> None:
    """The upload became image ``image_id`` (flushed, in the image's transaction):
    give the lease up with status ``completed``; LeaseLost if it is not ours.

    ``adopted``: the piece's state once its bytes are the image's blob (the
    bytes' later removal must leave them). ``fields``: the upload's fields
    replaced (a duplicate records that it was one)."""
    done: dict[str, Any] = {"status": "completed", "image_id": image_id}
    if adopted is not None:
        done["storage"] = adopted
    if fields is not None:
        done["fields"] = fields
    finished = await session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.lock_token == token, Upload.status == "pending")
        .values(lock_token=None, locked_until=None, **done)
        .execution_options(synchronize_session=False)
    )
    if getattr(finished, "rowcount", 0) != 1:
        raise LeaseLost


def check_concatenable(partials: list[Upload], now: dt.datetime) -> None:
    """400 unless every one is a finished, unexpired partial upload."""
    for partial in partials:
        if partial.concat != "partial" or partial.status != "uploaded":
            raise AppError(
                400,
                "invalid_concatenation",
                f"Upload {partial.id} is not a finished partial upload "
                "(create it with Upload-Concat: partial and send all its bytes first).",
            )
        if partial.expires_at <= now:
            raise AppError(
                400, "invalid_concatenation", f"Partial upload {partial.id} has expired."
            )


async def claim_partials(session: AsyncSession, partial_ids: list[str], now: dt.datetime) -> None:
    """Mark finished partial uploads ``concatenated`` (flushed); 409 unless all were
    still finished, unclaimed and unexpired.

    In the transaction that creates their final upload: two concurrent
    concatenations cannot both use one, and gc cannot expire (and empty) one
    that is being claimed."""
    claimed = await session.execute(
        update(Upload)
        .where(Upload.id.in_(partial_ids), Upload.status == "uploaded", Upload.expires_at > now)
        .values(status="concatenated")
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != len(partial_ids):
        raise AppError(
            409,
            "invalid_concatenation",
            "A partial upload was concatenated by another request, or expired.",
        )


def already_done(upload: Upload, offset: int) -> bool:
    """True for a retried last PATCH whose answer was lost (nothing to do);
    raises for an upload that can no longer be written."""
    if upload.status in WHOLE and offset == upload.offset:
        return True
    check_open(upload)
    return False


def check_terminable(upload: Upload) -> None:
    """404 for an upload already ended, 409 for one that is (part of) an image."""
    if upload.status == "terminated":
        raise not_found()
    if upload.status in ("completed", "concatenated"):
        # A concatenated partial's bytes belong to its final upload now.
        raise AppError(
            409,
            "upload_already_finalized",
            "This upload has already become (part of) an image; delete the image instead.",
            imageId=upload.image_id,
        )
