"""Uploading into an album: who may, and filing the new image in it.

Direct, presigned and tus uploads all accept an ``albumId``. The check runs
before any byte is stored; the album row is written in the same transaction
as the image, so an image never half-joins an album.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.grants import Caller, album_grants, album_resource
from imghost.access.policy import Action, require
from imghost.albums.models import Album, AlbumImage
from imghost.errors import AppError, NotFound
from imghost.images.fields import NewImageFields
from imghost.reads import SessionReader


async def album_namespace(session: AsyncSession, caller: Caller, album_id: str) -> str | None:
    """The album's org (None for a user album), or 403/404 when the caller may
    not upload to it."""
    album = None
    if album_id.startswith("alb_") and len(album_id) <= 40:
        album = await session.get(Album, album_id)
    if album is None:
        raise NotFound("No such album.")
    grants = await album_grants(SessionReader(session), caller, album)
    require(grants, Action.UPLOAD_TO_ALBUM, album_resource(album))
    return album.org_id


async def with_album(
    session: AsyncSession, caller: Caller, fields: NewImageFields
) -> NewImageFields:
    """The fields with the album's namespace filled in (checked before any byte is stored)."""
    if fields.album_id is None:
        return fields
    org_id = await album_namespace(session, caller, fields.album_id)
    return dataclasses.replace(fields, org_id=org_id)


def file_in_album(session: AsyncSession, album_id: str, image_id: str, added_by: str) -> None:
    """Append the image to the album (added to the session, written at commit).

    The position is computed by the INSERT itself, after the current last one.
    """
    last = (
        select(func.coalesce(func.max(AlbumImage.position), 0) + 1)
        .where(AlbumImage.album_id == album_id)
        .scalar_subquery()
    )
    session.add(AlbumImage(album_id=album_id, image_id=image_id, position=last, added_by=added_by))


def album_field(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise AppError(422, "validation_error", "albumId must be a string.")
    return value
