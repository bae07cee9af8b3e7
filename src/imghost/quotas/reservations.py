"""Reservations: the bytes an upload in progress holds of its account's quota.

- An upload *reserves* its declared size when it starts (direct: each file
  once received, before it is validated or stored; presigned: at
  ``POST /v1/uploads``; tus: at creation with ``Upload-Length``).
- Its image converts the reservation into usage (``charges.charge_image``);
  a tus upload whose length was deferred, or that lands in an org's pooled
  quota, is *covered* first (:func:`cover_image`).
- A reservation whose upload fails, ends or expires is *released* (at once
  where the request knows, else by gc: :func:`release_stale`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.albums import services as albums
from imghost.db import utcnow
from imghost.quotas.ledger import CountedImage, account_of, ensure_row, fits, quota_exceeded
from imghost.quotas.models import QuotaReservation, StorageUsage
from imghost.quotas.plans import quota_of
from imghost.settings import Settings

# The uploads that reserve (a type), and the one read of another feature's
# table (:func:`release_stale`, which says why).
from imghost.uploads.models import Upload

# A direct upload's reservation (or a tus upload's top-up) lives as long as
# its request; this bounds it if the process dies meanwhile (gc releases it).
DIRECT_RESERVATION_TTL = dt.timedelta(hours=1)


async def reserve(
    session: AsyncSession,
    settings: Settings,
    *,
    account_id: str,
    size: int,
    reservation_id: str,
    expires_at: dt.datetime | None,
) -> None:
    """Hold ``size`` bytes of the account's quota (flushed, not committed); 413 if they
    do not fit."""
    await ensure_row(session, account_id)
    quota = await quota_of(session, settings, account_id)
    held = await session.execute(
        update(StorageUsage)
        .where(StorageUsage.account_id == account_id, fits(quota, size))
        .values(reserved_bytes=StorageUsage.reserved_bytes + size, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(held, "rowcount", 0) != 1:
        raise await quota_exceeded(session, settings, account_id, size)
    session.add(
        QuotaReservation(
            id=reservation_id,
            account_id=account_id,
            bytes=size,
            created_at=utcnow(),
            expires_at=expires_at,
        )
    )
    await session.flush()


async def upload_account(session: AsyncSession, upload: Upload) -> str:
    """The account an upload will count against: its album's org, else its owner.

    (The album permission is checked by the upload routes, before this.)"""
    album_id = (upload.fields or {}).get("albumId")
    if album_id:
        org_id = await albums.album_org(session, album_id)
        if org_id:
            return org_id
    return upload.owner_id


async def reserve_upload(session: AsyncSession, settings: Settings, upload: Upload) -> None:
    """Reserve a presigned or tus upload's declared size under its id (flushed).

    A tus upload with a deferred length reserves nothing (it is checked when its
    last byte arrives); a final concatenation reserves nothing either: its
    partials hold the bytes."""
    if upload.size is None or upload.concat == "final":
        return
    # Presigned: the upload row's expiry bounds the promise; tus uploads are
    # renewed by each PATCH, so theirs is released by the upload's end (or gc).
    expires = None if upload.kind == "tus" else upload.expires_at
    await reserve(
        session,
        settings,
        account_id=await upload_account(session, upload),
        size=upload.size,
        reservation_id=upload.id,
        expires_at=expires,
    )


async def release(session: AsyncSession, reservation_ids: Iterable[str]) -> dict[str, int]:
    """Drop reservations (flushed, not committed); returns the bytes freed per
    account. Idempotent: an id already released or converted frees nothing."""
    ids = sorted(set(reservation_ids))
    if not ids:
        return {}
    rows = (
        await session.execute(
            delete(QuotaReservation)
            .where(QuotaReservation.id.in_(ids))
            .returning(QuotaReservation.account_id, QuotaReservation.bytes)
            .execution_options(synchronize_session=False)
        )
    ).all()
    freed: dict[str, int] = {}
    for account_id, size in rows:
        freed[account_id] = freed.get(account_id, 0) + int(size)
    # Sorted, so two transactions freeing several accounts lock rows in one order.
    for account_id, size in sorted(freed.items()):
        await session.execute(
            update(StorageUsage)
            .where(StorageUsage.account_id == account_id)
            .values(reserved_bytes=StorageUsage.reserved_bytes - size, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return freed


def upload_reservations(upload: Upload) -> list[str]:
    """The reservation ids a presigned or tus upload may hold: its own, its
    partials' (a tus concatenation), and its top-up (:func:`cover_image`)."""
    return [upload.id, *(upload.partials or []), topup_id(upload.id)]


def topup_id(upload_id: str) -> str:
    return f"{upload_id}+"


async def cover_image(
    session: AsyncSession, settings: Settings, image: CountedImage, reservation_ids: list[str]
) -> None:
    """Make the reservations cover the image's actual size on its account
    (flushed, not committed), reserving the difference under the top-up id of
    the first; 413 if that does not fit.

    For a tus upload whose length was deferred, or that lands in an org's pooled
    quota: the caller commits this before storing the bytes, and converts it
    with ``charges.charge_image`` in the image's commit, so the quota row is not
    held locked while bytes are stored."""
    account_id = account_of(image.owner_id, image.org_id)
    extra_id = topup_id(reservation_ids[0])
    held = (
        await session.execute(
            select(QuotaReservation.id, QuotaReservation.bytes).where(
                QuotaReservation.id.in_(reservation_ids),
                QuotaReservation.account_id == account_id,
            )
        )
    ).all()
    covered = sum(int(size) for rid, size in held if rid != extra_id)
    topped = sum(int(size) for rid, size in held if rid == extra_id)
    if covered + topped >= image.size:
        return
    # A retry after a 5xx may find an older, smaller top-up: replace it.
    await release(session, [extra_id])
    await reserve(
        session,
        settings,
        account_id=account_id,
        size=image.size - covered,
        reservation_id=extra_id,
        expires_at=utcnow() + DIRECT_RESERVATION_TTL,
    )


async def release_stale(session: AsyncSession, now: dt.datetime) -> int:
    """gc: release reservations past their expiry, and those of uploads that
    ended (failed, terminated, expired, or whose row is gone). Flushed.

    A read across features by design: one statement pairs each upload's
    reservation with its upload's state. Asking ``uploads``' services instead
    would make quotas depend on uploads, which depends on quotas (uploads
    reserve and charge)."""
    expired = set(
        await session.scalars(
            select(QuotaReservation.id).where(
                QuotaReservation.expires_at.is_not(None), QuotaReservation.expires_at < now
            )
        )
    )
    rows = (
        await session.execute(
            select(QuotaReservation.id, Upload.status, Upload.cleaned_at)
            .outerjoin(Upload, Upload.id == QuotaReservation.id)
            .where(QuotaReservation.expires_at.is_(None))
        )
    ).all()
    for rid, status, cleaned_at in rows:
        # A concatenated partial holds its bytes until its final upload ends
        # (then gc cleans it); completed ones were converted when they finished.
        if status not in ("pending", "uploaded", "concatenated") or cleaned_at is not None:
            expired.add(rid)
    await release(session, expired)
    return len(expired)
