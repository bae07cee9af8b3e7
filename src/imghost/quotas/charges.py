"""Charges: the stored bytes an account's usage counts, one ``quota_blobs`` row per blob.

- When an upload becomes an image its reservation is *converted* into the
  image's actual size (:func:`charge_image`) in the transaction that adds
  the image row; any part not covered by the reservation (a deferred tus
  length, or an image that lands in an org's pooled quota instead of its
  uploader's) is tested again.
- Derivatives the processing job makes (pre-generated presets, the GPS-free
  copy) are counted when written and never refused
  (:func:`derivatives_written`).
- A purge uncounts every blob of the image (:func:`free_image`, through
  ``quotas.usage.image_purged``).

Each increase re-evaluates the account's threshold warnings (``warnings``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.images import services as images
from imghost.quotas import warnings
from imghost.quotas.ledger import CountedImage, account_of, ensure_row, fits, quota_exceeded
from imghost.quotas.models import QuotaBlob, StorageUsage
from imghost.quotas.plans import quota_of
from imghost.quotas.reservations import release
from imghost.settings import Settings

ORIGINAL = "original"
DERIVATIVE = "derivative"


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
    await ensure_row(session, account_id)
    query = update(StorageUsage).where(StorageUsage.account_id == account_id)
    if image.size > covered:
        # Reservations are released above, so the whole size must fit again.
        query = query.where(fits(await quota_of(session, settings, account_id), image.size))
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
    await ensure_row(session, account_id)
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
