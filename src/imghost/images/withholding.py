"""Setting ``images.withheld``: what moderation's takedowns and suspensions change.

The column is the one fact every read path and listing decides by
(``access.policy.check_withheld``, ``access.listing``); the listing triggers
keep the ``listed`` copies in step. A takedown wins over a suspension: lifting
either leaves the image withheld for the other if it still holds.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.policy import OPEN_VISIBILITIES
from imghost.cdn import services as cdn
from imghost.images import published
from imghost.images.models import Image

TAKEDOWN = "takedown"
SUSPENDED = "suspended"


async def set_withheld(session: AsyncSession, image: Image, withheld: str | None) -> None:
    was_open = published.open_to_all(image) and image.withheld is None
    image.withheld = withheld
    await session.flush()
    await published.unpublish_if(session, image, was_open and withheld is not None)


def on_legal_hold(image: Image) -> bool:
    """A takedown in force keeps the image's row and bytes: no trash purge,
    maintenance sweep or account deletion removes them until it is lifted."""
    return image.withheld == TAKEDOWN


async def withhold_owner(session: AsyncSession, owner_id: str) -> int:
    """Withhold every image of a suspended owner, in one statement: in effect
    for all of them at the transaction's commit, however many there are."""
    result = await session.execute(
        update(Image)
        .where(Image.owner_id == owner_id, Image.withheld.is_(None))
        .values(withheld=SUSPENDED)
        .returning(Image.id, Image.visibility, Image.deleted_at)
        .execution_options(synchronize_session=False)
    )
    changed = result.all()
    open_ones = [i for i, seen, gone in changed if seen in OPEN_VISIBILITIES and gone is None]
    await cdn.unpublished(session, open_ones)
    return len(changed)


async def release_owner(session: AsyncSession, owner_id: str) -> int:
    """Undo ``withhold_owner`` (images taken down stay withheld)."""
    result = await session.execute(
        update(Image)
        .where(Image.owner_id == owner_id, Image.withheld == SUSPENDED)
        .values(withheld=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)
