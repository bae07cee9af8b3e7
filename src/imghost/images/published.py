"""Whether an image was one anyone may fetch, for the changes that end that:
they tell ``cdn.services.unpublished`` (caches in front must drop it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.policy import OPEN_VISIBILITIES
from imghost.cdn import services as cdn
from imghost.images.models import Image


def open_to_all(image: Image) -> bool:
    """Public or unlisted and not deleted: what a shared cache may have kept."""
    return image.visibility in OPEN_VISIBILITIES and image.deleted_at is None


async def open_in_org(session: AsyncSession, org_id: str) -> list[str]:
    """The ids of the org's images open to all (its deletion takes them along)."""
    rows = await session.scalars(
        select(Image.id).where(
            Image.org_id == org_id,
            Image.visibility.in_(OPEN_VISIBILITIES),
            Image.deleted_at.is_(None),
        )
    )
    return list(rows)


async def unpublish_if(session: AsyncSession, image: Image, was_open: bool) -> None:
    """The change just made to ``image`` (in this transaction) took it out of
    public reach if it was open to all before."""
    if was_open:
        await cdn.unpublished(session, [image.id])
