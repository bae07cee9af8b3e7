"""What is in an album: adding, removing and ordering its images, and its pages."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.decide import image_access
from imghost.access.grants import Caller
from imghost.access.policy import (
    Action,
    Level,
)
from imghost.albums.access import AlbumAccess, album_access, visible_images
from imghost.albums.models import AlbumImage
from imghost.db import utcnow
from imghost.errors import AppError, Forbidden
from imghost.images.models import Image
from imghost.reads import SessionReader


async def add_images(
    session: AsyncSession, caller: Caller, album_id: str, image_ids: list[str]
) -> AlbumAccess:
    """Append images in the order given; ones already in the album are skipped.

    The caller needs `upload` on the album and must be able to see every
    image: one they cannot see refuses the whole request (403 or 404, as the
    policy answers for that image) and nothing is added.
    """
    assert caller.user_id is not None
    access = await album_access(session, caller, album_id, Action.UPLOAD_TO_ALBUM)
    wanted = list(dict.fromkeys(image_ids))
    found = await session.scalars(select(Image).where(Image.id.in_(wanted)))
    images = {image.id: image for image in found}
    reads = SessionReader(session)
    for image_id in wanted:
        await image_access(reads, caller, images.get(image_id), Action.ADD_TO_ALBUM)
    present = set(
        await session.scalars(
            select(AlbumImage.image_id).where(
                AlbumImage.album_id == album_id, AlbumImage.image_id.in_(wanted)
            )
        )
    )
    top = await session.scalar(
        select(func.max(AlbumImage.position)).where(AlbumImage.album_id == album_id)
    )
    position = -1 if top is None else top
    now = utcnow()
    added = [i for i in wanted if i not in present]
    for image_id in added:
        position += 1
        session.add(
            AlbumImage(
                album_id=album_id,
                image_id=image_id,
                position=position,
                added_by=caller.user_id,
                added_at=now,
            )
        )
    if added:
        access.album.updated_at = now
    try:
        await session.flush()
    except IntegrityError:
        # Another request added one of these images at the same moment.
        raise AppError(409, "album_changed", "The album changed meanwhile; try again.") from None
    return access


async def remove_images(
    session: AsyncSession, caller: Caller, album_id: str, image_ids: list[str]
) -> AlbumAccess:
    """Take images out of the album (never deleting them). Needs `edit`, except
    that whoever added an image may take their own addition out. Ids not in
    the album are ignored, so a repeated request changes nothing."""
    access = await album_access(session, caller, album_id, Action.VIEW_METADATA)
    rows = list(
        await session.scalars(
            select(AlbumImage).where(
                AlbumImage.album_id == album_id, AlbumImage.image_id.in_(set(image_ids))
            )
        )
    )
    others = any(row.added_by is None or row.added_by != caller.user_id for row in rows)
    if access.level < Level.EDIT and others:
        raise Forbidden("You may only take out of this album the images you added to it.")
    if not rows:
        return access
    removed = {row.image_id for row in rows}
    await session.execute(
        delete(AlbumImage).where(AlbumImage.album_id == album_id, AlbumImage.image_id.in_(removed))
    )
    if access.album.cover_image_id in removed:
        access.album.cover_image_id = None
    access.album.updated_at = utcnow()
    await session.flush()
    return access


async def reorder(
    session: AsyncSession, caller: Caller, album_id: str, image_ids: list[str]
) -> AlbumAccess:
    """Set the order of the images the caller sees in the album.

    ``image_ids`` must be exactly those images, each once. Images the caller
    cannot see (someone else's private image, a deleted one) keep their
    slots, so their ids are never needed or revealed; positions are
    renumbered 0..n-1.
    """
    access = await album_access(session, caller, album_id, Action.EDIT_METADATA)
    rows = list(
        await session.scalars(
            select(AlbumImage)
            .where(AlbumImage.album_id == album_id)
            .order_by(AlbumImage.position, AlbumImage.image_id)
        )
    )
    shown = set(await session.scalars(visible_images(caller, access).with_only_columns(Image.id)))
    if len(image_ids) != len(set(image_ids)) or set(image_ids) != shown:
        raise AppError(
            400,
            "order_mismatch",
            "imageIds must list every image of the album exactly once.",
        )
    new_order = iter(image_ids)
    sequence = [next(new_order) if row.image_id in shown else row.image_id for row in rows]
    by_id = {row.image_id: row for row in rows}
    for position, image_id in enumerate(sequence):
        by_id[image_id].position = position
    access.album.updated_at = utcnow()
    await session.flush()
    return access


async def list_images(
    session: AsyncSession, caller: Caller, access: AlbumAccess, *, page: int, limit: int
) -> tuple[list[Image], int]:
    """A page of the album's images the caller sees in it (``access``: from
    ``album_access``, which may have read another session: the primary's)."""
    shown = visible_images(caller, access)
    total = await session.scalar(select(func.count()).select_from(shown.subquery())) or 0
    rows = await session.scalars(
        shown.order_by(AlbumImage.position, AlbumImage.image_id)
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(rows), total
