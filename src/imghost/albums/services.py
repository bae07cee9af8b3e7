"""Albums: ordered sets of images with their own visibility and collaborators.

Every decision goes through ``access.policy`` with the grants that
``access.grants`` gathers; which images an album shows is the SQL rule
``access.listing.album_images_visible``, so counts and pages agree with it.
Services take the request's session and never commit: the route does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.decide import image_access
from imghost.access.grants import Caller, album_grants, album_resource, live
from imghost.access.listing import album_images_visible, listed_albums
from imghost.access.policy import (
    ALBUM_PERMISSIONS,
    OPEN_VISIBILITIES,
    Action,
    Grants,
    Level,
    grant_live,
    level,
    org_level,
    permission_level,
    require,
    visibility_after_sharing,
)
from imghost.accounts import services as accounts
from imghost.accounts.models import User
from imghost.albums.models import Album, AlbumCollaborator, AlbumImage
from imghost.albums.schemas import AlbumCreate, AlbumFacts, AlbumPatch
from imghost.db import utcnow
from imghost.errors import AppError, Forbidden, NotFound
from imghost.ids import new_id
from imghost.images.models import Image
from imghost.notifications import shares
from imghost.orgs.models import Org, OrgMember
from imghost.reads import SessionReader
from imghost.sharing.models import ShareLink


@dataclass(frozen=True)
class AlbumAccess:
    """An album and what the caller holds on it."""

    album: Album
    grants: Grants

    @property
    def level(self) -> Level:
        # Computed on demand: a PATCH may have changed the album's visibility.
        return level(self.grants, album_resource(self.album))

    @property
    def explicit(self) -> bool:
        """Whether the caller's access comes from a grant, not only from the
        album being public or unlisted (which never reveals shared images)."""
        resource = album_resource(self.album)
        if resource.visibility in OPEN_VISIBILITIES:
            # The same grants on the album as if it were shared with them alone.
            resource = dataclasses.replace(resource, visibility="shared")
        return level(self.grants, resource) >= Level.VIEW

    def require(self, action: Action) -> None:
        require(self.grants, action, album_resource(self.album))


async def album_access(
    session: AsyncSession, caller: Caller, album_id: str, action: Action
) -> AlbumAccess:
    """The album with the caller's grants, or the 404/403 the policy answers."""
    album = await session.get(Album, album_id)
    if album is None:
        raise NotFound("No such album.")
    grants = await album_grants(SessionReader(session), caller, album)
    found = AlbumAccess(album, grants)
    found.require(action)
    return found


def visible_images(caller: Caller, access: AlbumAccess) -> Select[Image]:
    """The album's images this caller sees in it (unordered)."""
    shown = album_images_visible(
        caller, album_view=access.level >= Level.VIEW, explicit=access.explicit
    )
    return (
        select(Image)
        .join(AlbumImage, AlbumImage.image_id == Image.id)
        .join(Album, Album.id == AlbumImage.album_id)
        .where(AlbumImage.album_id == access.album.id, shown)
    )


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
    session: AsyncSession, caller: Caller, album_id: str, *, page: int, limit: int
) -> tuple[list[Image], int]:
    access = await album_access(session, caller, album_id, Action.VIEW_METADATA)
    shown = visible_images(caller, access)
    total = await session.scalar(select(func.count()).select_from(shown.subquery())) or 0
    rows = await session.scalars(
        shown.order_by(AlbumImage.position, AlbumImage.image_id)
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(rows), total


async def put_collaborator(
    session: AsyncSession,
    caller: Caller,
    album_id: str,
    user_id: str,
    permission: str,
    expires_at: dt.datetime | None = None,
) -> tuple[AlbumCollaborator, User, str]:
    """Grant (or replace) one user's permission on the album, until
    ``expires_at`` (None: until revoked). In an org album only org members
    can be collaborators (409 `not_an_org_member`). A private album becomes shared."""
    access = await album_access(session, caller, album_id, Action.SHARE)
    user = await accounts.get_user(session, user_id)
    if not await _may_collaborate(session, access.album, user.id):
        raise AppError(
            409, "not_an_org_member", "Only members of the album's org can be given access."
        )
    row = await _grant(session, access.album, user.id, permission, caller.user_id, expires_at)
    return row, user, access.album.visibility


async def shareable(session: AsyncSession, caller: Caller, album_id: str) -> Album:
    """The album, if the caller may share it (404 / 403 as every album route)."""
    return (await album_access(session, caller, album_id, Action.SHARE)).album


async def grant_claimed(
    session: AsyncSession,
    album_id: str,
    user_id: str,
    permission: str,
    granted_by: str | None,
    expires_at: dt.datetime | None = None,
) -> bool:
    """A share by e-mail, claimed: grant ``permission`` (until ``expires_at``)
    unless the user already has a live grant (the one set since wins) or the
    album's rules refuse them (its owner; a non-member in an org album). True
    when a grant was added."""
    album = await session.get(Album, album_id)
    if album is None or album.owner_id == user_id:
        return False
    held = await session.get(AlbumCollaborator, (album_id, user_id))
    if held is not None and grant_live(held.expires_at, utcnow()):
        return False
    if not await _may_collaborate(session, album, user_id):
        return False
    await _grant(session, album, user_id, permission, granted_by, expires_at)
    return True


async def _may_collaborate(session: AsyncSession, album: Album, user_id: str) -> bool:
    if album.org_id is None:
        return True
    member = await session.scalar(
        select(OrgMember.role).where(OrgMember.org_id == album.org_id, OrgMember.user_id == user_id)
    )
    return member is not None


async def _grant(
    session: AsyncSession,
    album: Album,
    user_id: str,
    permission: str,
    granted_by: str | None,
    expires_at: dt.datetime | None,
) -> AlbumCollaborator:
    now = utcnow()
    widened = visibility_after_sharing(album.visibility)
    if widened != album.visibility:
        album.visibility, album.updated_at = widened, now
    row = await session.get(AlbumCollaborator, (album.id, user_id))
    # An expired grant given again is a new share, as if it had been removed.
    added = row is None or not grant_live(row.expires_at, now)
    if row is None:
        row = AlbumCollaborator(album_id=album.id, user_id=user_id)
        session.add(row)
    if added:
        row.created_at = now
    row.permission, row.expires_at = permission, expires_at
    row.granted_by = granted_by
    await session.flush()
    if added:
        await shares.album_shared(
            session,
            album_id=album.id,
            album_title=album.title,
            user_id=user_id,
            permission=permission,
            granted_by=granted_by,
        )
    return row


async def list_collaborators(
    session: AsyncSession, caller: Caller, album_id: str
) -> list[tuple[AlbumCollaborator, User]]:
    await album_access(session, caller, album_id, Action.SHARE)
    rows = await session.execute(
        select(AlbumCollaborator, User)
        .join(User, User.id == AlbumCollaborator.user_id)
        # An expired grant is as good as removed (giving it again is a new share).
        .where(AlbumCollaborator.album_id == album_id, live(AlbumCollaborator.expires_at))
        .order_by(AlbumCollaborator.created_at, AlbumCollaborator.user_id)
    )
    return [(grant, user) for grant, user in rows]


async def remove_collaborator(
    session: AsyncSession, caller: Caller, album_id: str, user_id: str
) -> None:
    """The album's owner removes anyone; a collaborator may remove themself."""
    row = await session.get(AlbumCollaborator, (album_id, user_id))
    if row is None or user_id != caller.user_id:
        await album_access(session, caller, album_id, Action.SHARE)
    if row is None:
        raise NotFound("No such collaborator.")
    await session.delete(row)
    await session.flush()
