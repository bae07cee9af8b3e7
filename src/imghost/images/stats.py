"""Images as operators see them: how many are in each state, and how many the
content scan refused (``GET /v1/admin/status``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.images.models import Image


@dataclass(frozen=True)
class ImageStats:
    by_status: dict[str, int]  # processing, ready, failed, quarantined (not deleted)
    deleted: int  # in the trash, not purged yet
    scan_refused: int  # refused by the content scan (not deleted)


async def image_stats(session: AsyncSession) -> ImageStats:
    rows = await session.execute(
        select(Image.status, func.count()).where(Image.deleted_at.is_(None)).group_by(Image.status)
    )
    by_status = {str(status): int(count) for status, count in rows.all()}
    deleted = await session.scalar(
        select(func.count()).select_from(Image).where(Image.deleted_at.is_not(None))
    )
    refused = await session.scalar(
        select(func.count())
        .select_from(Image)
        .where(Image.scan_status == "refused", Image.deleted_at.is_(None))
    )
    return ImageStats(by_status, int(deleted or 0), int(refused or 0))
