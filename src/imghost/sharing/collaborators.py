"""Per-image collaborators: view, download or edit, granted by the image's owner."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.policy import visibility_after_sharing
from imghost.accounts.models import User
from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.images.models import Image
from imghost.notifications import shares
from imghost.sharing.models import ImageCollaborator


async def grant(
    session: AsyncSession, image: Image, user_id: str, permission: str, granted_by: str
) -> tuple[ImageCollaborator, User]:
    """Grant (or change) one user's permission; a private image becomes shared."""
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
    added = row is None
    if row is None:
        row = ImageCollaborator(image_id=image.id, user_id=user.id, granted_by=granted_by)
        session.add(row)
    row.permission = permission
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
    rows = await session.execute(
        select(ImageCollaborator, User)
        .join(User, User.id == ImageCollaborator.user_id)
        .where(ImageCollaborator.image_id == image_id)
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
