"""What site admins do with images: find any image, and quarantine one.

Admins see every image, deleted and quarantined ones included, so nothing
here filters on status or ``deleted_at``; the admin routes check the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.images import published
from imghost.images.models import Image


async def quarantine_by_admin(session: AsyncSession, image_id: str, reason: str) -> Image | None:
    """The image becomes ``quarantined`` with ``reason`` (a moderator decided,
    not the scan: ``scan_status`` keeps the scan's own verdict). None: no such
    image. Its bytes and quota charge stay; a processing job still running
    keeps the status (``record_processed`` does not lift a quarantine)."""
    image = await session.get(Image, image_id)
    if image is None:
        return None
    await published.unpublish_if(
        session, image, published.open_to_all(image) and image.status != "quarantined"
    )
    image.status = "quarantined"
    image.status_reason = reason[:300]
    image.updated_at = utcnow()
    await session.flush()
    return image


def quarantined_by_admin(image: Image) -> bool:
    """Quarantined by a moderator rather than refused by a scan."""
    return image.status == "quarantined" and image.scan_status != "refused"


async def find_images(
    session: AsyncSession,
    *,
    image_id: str | None,
    owner_id: str | None,
    sha256: str | None,
    limit: int,
    before: tuple[dt.datetime, str] | None,
) -> list[Image]:
    """Any image matching every filter given, newest first; ``before``: the
    keyset cursor (created_at, id) of the last one of the previous page. The
    sha256 matches the original's or its GPS-free copy's hash."""
    query = select(Image)
    if image_id is not None:
        query = query.where(Image.id == image_id)
    if owner_id is not None:
        query = query.where(Image.owner_id == owner_id)
    if sha256 is not None:
        query = query.where((Image.sha256 == sha256) | (Image.public_sha256 == sha256))
    if before is not None:
        at, last_id = before
        query = query.where(
            (Image.created_at < at) | ((Image.created_at == at) & (Image.id < last_id))
        )
    rows = await session.scalars(
        query.order_by(Image.created_at.desc(), Image.id.desc()).limit(limit)
    )
    return list(rows)


async def images_by_id(session: AsyncSession, image_ids: Sequence[str]) -> dict[str, Image]:
    if not image_ids:
        return {}
    rows = await session.scalars(select(Image).where(Image.id.in_(image_ids)))
    return {image.id: image for image in rows}
