"""Per-image collaborators: view, download or edit, granted by the image's owner,
until revoked or until the grant's own ``expires_at``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.grants import live
from imghost.access.policy import grant_live, visibility_after_sharing
from imghost.accounts.models import User
from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.images.models import Image
from imghost.notifications import shares
from imghost.sharing.models import ImageCollaborator


async def grant(
    session: AsyncSession,
    image: Image,
    user_id: str,
    permission: str,
    granted_by: str,
    expires_at: dt.datetime | None = None,
) -> tuple[ImageCollaborator, User]:
    """Grant (or change) one user's permission; a private image becomes shared.

    The grant is replaced as a whole: its expiry becomes ``expires_at`` (None:
    until revoked; checked by the caller with ``access.policy.grant_expiry``).
    An expired grant given again is a new share, and its holder is told so.
    """
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    if user.id == image.owner_id:
        raise AppError(
            400, "cannot_share_with_owner", "The image's owner already has every permission."
        )
    widened = visibility_after_sharing(image.visibility)
    if widened != image.visibility:
        image.visibility, image.updated_at = widened, utcnow()
    row = await session.get(ImageCollaborator, (image.id, user.id))
    now = utcnow()
    added = row is None or not grant_live(row.expires_at, now)
    if row is None:
        row = ImageCollaborator(image_id=image.id, user_id=user.id, granted_by=granted_by)
        session.add(row)
    elif added:
        # An expired grant given again: a new share, as if it had been removed.
        row.created_at, row.granted_by = now, granted_by
    row.permission, row.expires_at = permission, expires_at
    await session.flush()
    if added:
        await shares.image_shared(
            session,
            image_id=image.id,
            image_title=image.title,
            user_id=user.id,
            permission=permission,
            granted_by=granted_by,
        )
    return row, user


async def list_for(session: AsyncSession, image_id: str) -> list[tuple[ImageCollaborator, User]]:
    """The image's collaborators whose grants still count (an expired one is
    as good as removed: it grants nothing, and giving it again is a new share)."""
    rows = await session.execute(
        select(ImageCollaborator, User)
        .join(User, User.id == ImageCollaborator.user_id)
        .where(ImageCollaborator.image_id == image_id, live(ImageCollaborator.expires_at))
        .order_by(ImageCollaborator.created_at, User.id)
    )
    return [(c, u) for c, u in rows.all()]


async def revoke(session: AsyncSession, image_id: str, user_id: str) -> None:
    result = await session.execute(
        delete(ImageCollaborator).where(
            ImageCollaborator.image_id == image_id, ImageCollaborator.user_id == user_id
        )
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound("This user is not a collaborator on this image.")
