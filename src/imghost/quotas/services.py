"""Storage quotas: reserving, charging and releasing bytes, atomically.

Every change to an account's numbers is one UPDATE of its ``storage_usage``
row; the ones that may be refused carry the quota test in their WHERE clause
(``originals + derivatives + reserved + n <= quota``). PostgreSQL re-checks
that condition on the newest row version after waiting for a concurrent
writer of the row, and SQLite runs one writer at a time, so two uploads
racing for the last bytes cannot both get them.

- An upload *reserves* its declared size when it starts (direct: each file
  once received, before it is validated or stored; presigned: at
  ``POST /v1/uploads``; tus: at creation with ``Upload-Length``).
- When it becomes an image the reservation is *converted* into the image's
  actual size in the transaction that adds the image row; any part not
  covered by the reservation (a deferred tus length, or an image that lands
  in an org's pooled quota instead of its uploader's) is tested again.
- A reservation whose upload fails, ends or expires is *released* (at once
  where the request knows, else by gc).
- Derivatives the processing job makes (pre-generated presets, the GPS-free
  copy) are counted when written and never refused: they may push an account
  slightly over its quota. Renditions made only on request (transforms, AVIF
  presets) are not counted at all: viewers cause them, so they live in the
  service's bounded rendition cache (``imghost.processing.rendition_cache``).
- Soft-deleted images keep counting until they are purged
  (:func:`imghost.quotas.usage.image_purged`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.albums import services as albums
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.images import services as images
from imghost.orgs import services as orgs
from imghost.quotas import warnings
from imghost.quotas.models import QuotaBlob, QuotaReservation, StorageUsage
from imghost.quotas.plans import PLANS, Kind, kind_of, plan_of, plan_quota, quota_of
from imghost.settings import Settings
from imghost.units import human_bytes

# The uploads that reserve (a type), and the one read of another feature's
# table (:func:`release_stale`, which says why).
from imghost.uploads.models import Upload

ORIGINAL = "original"
DERIVATIVE = "derivative"
# A direct upload's reservation (or a tus upload's top-up) lives as long as
# its request; this bounds it if the process dies meanwhile (gc releases it).
DIRECT_RESERVATION_TTL = dt.timedelta(hours=1)


class CountedImage(Protocol):
    """What quotas needs to know of an image it counts (an ``images`` row)."""

    @property
    def id(self) -> str: ...
    @property
    def blob_key(self) -> str: ...
    @property
    def owner_id(self) -> str: ...
    @property
    def org_id(self) -> str | None: ...
    @property
    def size(self) -> int: ...


def account_of(owner_id: str, org_id: str | None) -> str:
    """The account an image counts against: its org's pooled quota, else its uploader's."""
    return org_id or owner_id


@dataclass(frozen=True)
class Usage:
    account_id: str
    kind: Kind
    plan: str
    originals_bytes: int
    derivatives_bytes: int
    reserved_bytes: int
    images: int
    quota_bytes: int

    @property
    def storage_bytes(self) -> int:
        return self.originals_bytes + self.derivatives_bytes


async def usage_of(session: AsyncSession, settings: Settings, account_id: str) -> Usage:
    row = await session.get(StorageUsage, account_id, populate_existing=True)
    plan = await plan_of(session, account_id)
    return Usage(
        account_id=account_id,
        kind=kind_of(account_id),
        plan=plan,
        originals_bytes=row.originals_bytes if row else 0,
        derivatives_bytes=row.derivatives_bytes if row else 0,
        reserved_bytes=row.reserved_bytes if row else 0,
        images=row.images if row else 0,
        quota_bytes=plan_quota(settings, plan),
    )


async def _ensure_row(session: AsyncSession, account_id: str) -> None:
    """Create the account's usage row if missing (concurrent creators: one wins)."""
    values: dict[str, Any] = {
        "account_id": account_id,
        "kind": kind_of(account_id),
        "originals_bytes": 0,
        "derivatives_bytes": 0,
        "reserved_bytes": 0,
        "images": 0,
        "warned_percent": 0,
        "updated_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(StorageUsage).values(**values).on_conflict_do_nothing(index_elements=["account_id"])
    )


async def quota_exceeded(
    session: AsyncSession, settings: Settings, account_id: str, requested: int
) -> AppError:
    usage = await usage_of(session, settings, account_id)
    whose = "the organization's" if usage.kind == "org" else "your"
    left = max(usage.quota_bytes - usage.storage_bytes - usage.reserved_bytes, 0)
    pending = (
        f", {human_bytes(usage.reserved_bytes)} held by uploads in progress"
        if usage.reserved_bytes
        else ""
    )
    return AppError(
        413,
        "quota_exceeded",
        f"This upload needs {human_bytes(requested)} but only {human_bytes(left)} of "
        f"{whose} {human_bytes(usage.quota_bytes)} storage quota is left "
        f"({human_bytes(usage.storage_bytes)} used{pending}). Delete some images, or ask for "
        "a larger plan.",
        used=usage.storage_bytes,
        reserved=usage.reserved_bytes,
        quota=usage.quota_bytes,
        requested=requested,
        accountId=account_id,
    )


def _fits(quota: int, extra: int) -> Any:
    return (
        StorageUsage.originals_bytes
        + StorageUsage.derivatives_bytes
        + StorageUsage.reserved_bytes
        + extra
        <= quota
    )


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
    await _ensure_row(session, account_id)
    quota = await quota_of(session, settings, account_id)
    held = await session.execute(
        update(StorageUsage)
        .where(StorageUsage.account_id == account_id, _fits(quota, size))
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


async def charge_image(
    session: AsyncSession, settings: Settings, image: CountedImage, reservation_ids: Iterable[str]
) -> None:
    """Count a new image's original against its account, converting the upload's
    reservations (flushed, not committed; call before storing the bytes, in the
    transaction that adds the image row). 413 if the part not covered by a
    reservation on that account does not fit; nothing changes then."""
    account_id = account_of(image.owner_id, image.org_id)
    freed = await release(session, reservation_ids)
    covered = freed.get(account_id, 0)
    await _ensure_row(session, account_id)
    query = update(StorageUsage).where(StorageUsage.account_id == account_id)
    if image.size > covered:
        # Reservations are released above, so the whole size must fit again.
        query = query.where(_fits(await quota_of(session, settings, account_id), image.size))
    charged = await session.execute(
        query.values(
            originals_bytes=StorageUsage.originals_bytes + image.size,
            images=StorageUsage.images + 1,
            updated_at=utcnow(),
        ).execution_options(synchronize_session=False)
    )
    if getattr(charged, "rowcount", 0) != 1:
        raise await quota_exceeded(session, settings, account_id, image.size)
    session.add(
        QuotaBlob(
            blob_key=image.blob_key,
            image_id=image.id,
            account_id=account_id,
            kind=ORIGINAL,
            bytes=image.size,
        )
    )
    await session.flush()
    await warnings.check(session, settings, account_id)


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
    with :func:`charge_image` in the image's commit, so the quota row is not
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


async def derivatives_written(
    session: AsyncSession, settings: Settings, image_id: str, sizes: Mapping[str, int]
) -> None:
    """Count derivatives just stored for an image, by blob key (flushed, not
    committed). Writing a key again replaces its size. Never refused."""
    if not sizes:
        return
    image = await images.get_image(session, image_id)
    if image is None:
        return
    account_id = await session.scalar(
        select(QuotaBlob.account_id).where(
            QuotaBlob.image_id == image_id, QuotaBlob.kind == ORIGINAL
        )
    ) or account_of(image.owner_id, image.org_id)
    await _ensure_row(session, account_id)
    # Take the usage row's lock first: the reads below then see every
    # concurrent writer of these keys (same account) finished.
    await session.execute(
        update(StorageUsage)
        .where(StorageUsage.account_id == account_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    # A purge that committed meanwhile freed the image's usage already: its
    # late derivatives are gc's orphans, not usage (checked under the lock).
    if not await images.image_exists(session, image_id):
        return
    old = dict(
        (
            await session.execute(
                select(QuotaBlob.blob_key, QuotaBlob.bytes).where(
                    QuotaBlob.blob_key.in_(list(sizes))
                )
            )
        ).all()
    )
    delta = 0
    for key, size in sizes.items():
        if key in old:
            await session.execute(
                update(QuotaBlob)
                .where(QuotaBlob.blob_key == key)
                .values(bytes=size)
                .execution_options(synchronize_session=False)
            )
            delta += size - int(old[key])
        else:
            session.add(
                QuotaBlob(
                    blob_key=key,
                    image_id=image_id,
                    account_id=account_id,
                    kind=DERIVATIVE,
                    bytes=size,
                )
            )
            delta += size
    await session.execute(
        update(StorageUsage)
        .where(StorageUsage.account_id == account_id)
        .values(derivatives_bytes=StorageUsage.derivatives_bytes + delta)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    if delta > 0:
        await warnings.check(session, settings, account_id)


async def free_image(session: AsyncSession, image_id: str) -> None:
    """Uncount every blob of an image (flushed, not committed); idempotent."""
    rows = (
        await session.execute(
            delete(QuotaBlob)
            .where(QuotaBlob.image_id == image_id)
            .returning(QuotaBlob.account_id, QuotaBlob.kind, QuotaBlob.bytes)
            .execution_options(synchronize_session=False)
        )
    ).all()
    per_account: dict[str, tuple[int, int, int]] = {}
    for account_id, kind, size in rows:
        originals, derivatives, images = per_account.get(account_id, (0, 0, 0))
        if kind == ORIGINAL:
            per_account[account_id] = (originals + int(size), derivatives, images + 1)
        else:
            per_account[account_id] = (originals, derivatives + int(size), images)
    for account_id, (originals, derivatives, images) in sorted(per_account.items()):
        await session.execute(
            update(StorageUsage)
            .where(StorageUsage.account_id == account_id)
            .values(
                originals_bytes=StorageUsage.originals_bytes - originals,
                derivatives_bytes=StorageUsage.derivatives_bytes - derivatives,
                images=StorageUsage.images - images,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        await warnings.fell(session, account_id)


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


async def set_plan(session: AsyncSession, settings: Settings, account_id: str, plan: str) -> Usage:
    """Change a user's or org's plan (flushed, not committed); the new quota
    applies to the next upload. Warnings are re-evaluated against it."""
    if plan not in PLANS:
        raise AppError(422, "invalid_plan", f"plan must be one of {', '.join(PLANS)}.")
    if kind_of(account_id) == "org":
        changed = await orgs.set_plan(session, account_id, plan)
    else:
        changed = await accounts.set_plan(session, account_id, plan)
    if not changed:
        raise AppError(404, "not_found", f"No user or org with id {account_id!r}.")
    await _ensure_row(session, account_id)
    await warnings.check(session, settings, account_id)
    return await usage_of(session, settings, account_id)


async def forget_account(session: AsyncSession, account_id: str) -> None:
    """A deleted account's usage rows go: its usage, reservations and any counted
    blob left (its images were purged first, which freed theirs). Flushed."""
    for model in (QuotaBlob, QuotaReservation, StorageUsage):
        await session.execute(
            delete(model)
            .where(model.account_id == account_id)
            .execution_options(synchronize_session=False)
        )
    await session.flush()
