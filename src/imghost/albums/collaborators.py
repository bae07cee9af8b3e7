"""An album's collaborators: grants by user, and shares by e-mail once claimed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.grants import Caller, live
from imghost.access.policy import (
    Action,
    grant_live,
    visibility_after_sharing,
)
from imghost.accounts import services as accounts
from imghost.accounts.models import User
from imghost.albums.access import album_access
from imghost.albums.models import Album, AlbumCollaborator
from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.notifications import shares
from imghost.orgs.models import OrgMember


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
