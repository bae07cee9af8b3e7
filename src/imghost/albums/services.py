"""Albums: ordered sets of images with their own visibility and collaborators.

Every decision goes through ``access.policy`` with the grants that
``access.grants`` gathers; which images an album shows is the SQL rule
``access.listing.album_images_visible``, so counts and pages agree with it.
Services take the request's session and never commit: the route does.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.grants import Caller, live
from imghost.access.listing import album_images_visible, listed_albums
from imghost.access.policy import (
    ALBUM_PERMISSIONS,
    Action,
    Grants,
    Level,
    org_level,
    permission_level,
)
from imghost.albums.access import AlbumAccess as AlbumAccess
from imghost.albums.access import album_access as album_access
from imghost.albums.access import visible_images as visible_images
from imghost.albums.collaborators import grant_claimed as grant_claimed
from imghost.albums.collaborators import list_collaborators as list_collaborators
from imghost.albums.collaborators import put_collaborator as put_collaborator
from imghost.albums.collaborators import remove_collaborator as remove_collaborator
from imghost.albums.collaborators import shareable as shareable
from imghost.albums.contents import add_images as add_images
from imghost.albums.contents import list_images as list_images
from imghost.albums.contents import remove_images as remove_images
from imghost.albums.contents import reorder as reorder
from imghost.albums.models import Album, AlbumCollaborator, AlbumImage
from imghost.albums.schemas import AlbumCreate, AlbumFacts, AlbumPatch
from imghost.db import utcnow
from imghost.errors import AppError, Forbidden, NotFound
from imghost.ids import new_id
from imghost.images.models import Image
from imghost.orgs.models import Org, OrgMember
from imghost.sharing.models import ShareLink


async def facts(session: AsyncSession, caller: Caller, access: AlbumAccess) -> AlbumFacts:
    shown = visible_images(caller, access)
    count = await session.scalar(select(func.count()).select_from(shown.subquery())) or 0
    cover = None
    if access.album.cover_image_id is not None:
        cover = await session.scalar(shown.where(Image.id == access.album.cover_image_id))
    return AlbumFacts(access.album, access.level, count, cover)


async def create_album(session: AsyncSession, caller: Caller, body: AlbumCreate) -> AlbumAccess:
    """A personal album, or with ``orgId`` one in the org's namespace (org owners
    and admins only; the org answers 404 to non-members, like a missing one)."""
    assert caller.user_id is not None
    if body.org_id is not None:
        role = await session.scalar(
            select(OrgMember.role).where(
                OrgMember.org_id == body.org_id, OrgMember.user_id == caller.user_id
            )
        )
        org = await session.get(Org, body.org_id)
        held = org_level(role, caller.admin)
        if org is None or held == Level.NONE:
            raise NotFound("No such org.")
        if held < Level.OWNER:
            raise Forbidden("Only the org's owners and admins can create its albums.")
    now = utcnow()
    album = Album(
        id=new_id("alb"),
        owner_id=caller.user_id,
        org_id=body.org_id,
        title=body.title,
        description=body.description,
        visibility=body.visibility,
        created_at=now,
        updated_at=now,
    )
    session.add(album)
    await session.flush()
    return await album_access(session, caller, album.id, Action.VIEW_METADATA)


async def list_albums(
    session: AsyncSession, caller: Caller, *, page: int, limit: int
) -> tuple[list[AlbumFacts], int]:
    """The caller's albums, their orgs' and those shared with them, newest first.

    Every listed album is reached through a grant, so its images are counted
    with the explicit-grant rule in one query; levels come from two more.
    """
    assert caller.user_id is not None
    listed = select(Album).where(listed_albums(caller))
    total = await session.scalar(select(func.count()).select_from(listed.subquery())) or 0
    counted = (
        select(func.count())
        .select_from(AlbumImage)
        .join(Image, Image.id == AlbumImage.image_id)
        .where(
            AlbumImage.album_id == Album.id,
            album_images_visible(caller, album_view=True, explicit=True),
        )
        .correlate(Album)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(Album, counted)
            .where(listed_albums(caller))
            .order_by(Album.created_at.desc(), Album.id.desc())
            .offset((page - 1) * limit)
            .limit(limit)
        )
    ).all()
    albums = [row[0] for row in rows]
    ids = [a.id for a in albums]
    my_roles = await session.execute(
        select(OrgMember.org_id, OrgMember.role).where(OrgMember.user_id == caller.user_id)
    )
    roles = {org_id: role for org_id, role in my_roles}
    my_grants = await session.execute(
        select(AlbumCollaborator.album_id, AlbumCollaborator.permission).where(
            AlbumCollaborator.user_id == caller.user_id,
            AlbumCollaborator.album_id.in_(ids),
            live(AlbumCollaborator.expires_at),
        )
    )
    granted = {album_id: permission for album_id, permission in my_grants}
    covers = {
        image.id: image
        for image in await session.scalars(
            select(Image)
            .join(AlbumImage, AlbumImage.image_id == Image.id)
            .join(Album, Album.id == AlbumImage.album_id)
            .where(
                AlbumImage.album_id.in_(ids),
                Image.id == Album.cover_image_id,
                album_images_visible(caller, album_view=True, explicit=True),
            )
        )
    }
    found = []
    for album, count in rows:
        grants = Grants(
            user_id=caller.user_id,
            admin=caller.admin,
            org_role=roles.get(album.org_id) if album.org_id else None,
            collaborator=permission_level(
                [granted[album.id]] if album.id in granted else [], ALBUM_PERMISSIONS
            ),
        )
        cover = covers.get(album.cover_image_id) if album.cover_image_id else None
        found.append(AlbumFacts(album, AlbumAccess(album, grants).level, count, cover))
    return found, total


async def update_album(
    session: AsyncSession, caller: Caller, album_id: str, patch: AlbumPatch
) -> AlbumAccess:
    """Title, description and cover need `edit`; visibility is the owner's."""
    access = await album_access(session, caller, album_id, Action.VIEW_METADATA)
    album = access.album
    fields = patch.model_fields_set
    if fields & {"title", "description", "cover_image_id"}:
        access.require(Action.EDIT_METADATA)
    if "visibility" in fields and patch.visibility != album.visibility:
        access.require(Action.SHARE)
    if patch.cover_image_id is not None:
        shown = visible_images(caller, access).where(Image.id == patch.cover_image_id)
        if await session.scalar(shown) is None:
            raise AppError(
                400, "cover_not_in_album", "The cover must be one of the album's images."
            )
    if "title" in fields and patch.title is not None:
        album.title = patch.title
    if "description" in fields:
        album.description = patch.description
    if "visibility" in fields and patch.visibility is not None:
        album.visibility = patch.visibility
    if "cover_image_id" in fields:
        album.cover_image_id = patch.cover_image_id
    album.updated_at = utcnow()
    await session.flush()
    return access


async def delete_album(session: AsyncSession, caller: Caller, album_id: str) -> None:
    """Delete the album, its image memberships, collaborators and share links.

    The images themselves are not touched: they belong to their owners and
    may be in other albums.
    """
    access = await album_access(session, caller, album_id, Action.DELETE)
    album_id = access.album.id
    # Explicit rather than relying on ON DELETE CASCADE alone: the same
    # statements on both backends, whatever a connection's pragmas.
    for model in (AlbumImage, AlbumCollaborator):
        await session.execute(delete(model).where(model.album_id == album_id))
    await session.execute(delete(ShareLink).where(ShareLink.album_id == album_id))
    await session.execute(delete(Album).where(Album.id == album_id))


async def album_org(session: AsyncSession, album_id: str) -> str | None:
    """The org whose namespace the album is in (None for a user's album, or none)."""
    return await session.scalar(select(Album.org_id).where(Album.id == album_id))


async def drop_org_grants(session: AsyncSession, org_id: str, user_id: str) -> None:
    """The user's collaborator grants on the org's albums go (flushed): they
    came with a membership that is ending."""
    await session.execute(
        delete(AlbumCollaborator).where(
            AlbumCollaborator.user_id == user_id,
            AlbumCollaborator.album_id.in_(select(Album.id).where(Album.org_id == org_id)),
        )
    )
