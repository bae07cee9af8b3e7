"""Gathering what a caller holds on a resource, for ``access.policy``.

One database round trip per decision, and none at all for anonymous callers
without a share token (the public delivery hot path). Grants are read fresh
on every request, never cached, so revoking a collaborator, a role or a link
takes effect at once in every process. A collaborator grant past its
``expires_at`` is no grant: every statement here and in ``access.listing``
compares it with the time the statement runs (:func:`live`), so nothing has
to happen at that moment for it to end.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute

from imghost.access.policy import (
    ALBUM_PERMISSIONS,
    GRANTED_VISIBILITIES,
    IMAGE_PERMISSIONS,
    LINK_PERMISSIONS,
    MANAGING_ROLES,
    Grants,
    Level,
    Resource,
    permission_level,
)
from imghost.albums.models import Album, AlbumCollaborator, AlbumImage
from imghost.auth.services import Actor
from imghost.db import UTCDateTime, utcnow
from imghost.orgs.models import OrgMember
from imghost.reads import FastReader
from imghost.sharing.models import ImageCollaborator, ShareLink


@dataclass(frozen=True)
class Caller:
    """Who asks, with which verified credentials (signatures checked, rows not yet)."""

    user_id: str | None = None
    admin: bool = False
    link_id: str | None = None  # from a verified share-link grant
    signed: Level = Level.NONE  # from a verified signed URL for exactly this path
    signed_expires: int | None = None

    @property
    def anonymous(self) -> bool:
        return self.user_id is None and self.link_id is None and self.signed == Level.NONE


def caller_of_actor(actor: Actor) -> Caller:
    """A signed-in user with no share credentials (writes take only a user)."""
    return Caller(actor.user_id, actor.is_admin)


class ImageRef(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def owner_id(self) -> str: ...
    @property
    def org_id(self) -> str | None: ...
    @property
    def visibility(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def scan_status(self) -> str: ...
    @property
    def withheld(self) -> str | None: ...


def image_resource(image: ImageRef) -> Resource:
    # Until processing finished well, only owner-level callers see an image;
    # one that failed after its scan passed stays retrievable (its original)
    # by everyone else allowed to see it. A scan that did not pass hides it.
    failed_after_scan = image.status == "failed" and image.scan_status == "passed"
    return Resource(
        "image",
        image.owner_id,
        image.org_id,
        image.visibility,
        image.status == "ready",
        failed_after_scan,
        image.withheld,
    )


def album_resource(album: Album) -> Resource:
    return Resource("album", album.owner_id, album.org_id, album.visibility)


def grant_now() -> BindParameter[dt.datetime]:
    """The time grant expiries are compared with: taken each time the statement
    runs, not when it is built (search builds its statements once and reuses
    them for every request)."""
    return bindparam("grant_now", callable_=lambda: utcnow(), type_=UTCDateTime())


def live(expires_at: Any) -> ColumnElement[bool]:
    """A collaborator grant (image or album) that has not expired."""
    return or_(expires_at.is_(None), expires_at > grant_now())


def _level_case(column: InstrumentedAttribute[str]) -> ColumnElement[int]:
    return case(*((column == name, int(lvl)) for name, lvl in ALBUM_PERMISSIONS.items()), else_=0)


def same_namespace(image_owner: Any, image_org: Any, album: Any = Album) -> ColumnElement[bool]:
    """The image is in the album's own namespace: a user album covers its
    owner's personal images, an org album the org's.

    Takes plain values (one image) or columns (a listing query); ``album`` may
    be an alias of ``Album``.
    """
    if image_org is None:
        return and_(album.org_id.is_(None), album.owner_id == image_owner)
    if isinstance(image_org, str):
        same_org: ColumnElement[bool] = album.org_id == image_org
        return same_org
    return or_(
        and_(album.org_id.is_(None), image_org.is_(None), album.owner_id == image_owner),
        album.org_id == image_org,
    )


def album_conveys(image_owner: Any, image_org: Any, album: Any = Album) -> ColumnElement[bool]:
    """Whether grants on ``album`` reach this image (``AlbumImage`` in scope).

    Only in the album's own namespace — someone else's image in your album is
    seen by its own rules — and only if the image was put there by someone
    who may share it: its owner, or for an org album an org owner or admin.
    Otherwise adding an image you may merely see to an album you may edit
    would raise your access to it, and that of everyone the album is shared with.
    And only from an album that is not private: a private album's grants are
    dormant, on the album and on its images alike.
    """
    managers = select(OrgMember.user_id).where(
        OrgMember.org_id == album.org_id, OrgMember.role.in_(MANAGING_ROLES)
    )
    added_by_sharer = or_(
        AlbumImage.added_by == image_owner,
        and_(album.org_id.is_not(None), AlbumImage.added_by.in_(managers)),
    )
    return and_(
        same_namespace(image_owner, image_org, album),
        added_by_sharer,
        album.visibility.in_(GRANTED_VISIBILITIES),
    )


def grantee_in_org(album: Any, user_id: Any) -> ColumnElement[bool]:
    """A collaborator grant on an org album counts only while its holder is a
    member of the org (removal takes their album grants away at once)."""
    return or_(
        album.org_id.is_(None),
        exists(
            select(OrgMember.user_id).where(
                OrgMember.org_id == album.org_id, OrgMember.user_id == user_id
            )
        ),
    )


def _org_role(org_id: str | None, user_id: str) -> ColumnElement[str | None]:
    if org_id is None:
        return literal(None)
    return (
        select(OrgMember.role)
        .where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
        .scalar_subquery()
    )


async def image_grants(reads: FastReader, caller: Caller, image: ImageRef) -> Grants:
    base = Grants(user_id=caller.user_id, admin=caller.admin, signed=caller.signed)
    if caller.user_id is None and caller.link_id is None:
        return base
    org_role: str | None = None
    collaborator = album = Level.NONE
    if caller.user_id is not None:
        me = caller.user_id
        via_album = (
            select(func.max(_level_case(AlbumCollaborator.permission)))
            .select_from(AlbumImage)
            .join(Album, Album.id == AlbumImage.album_id)
            .join(AlbumCollaborator, AlbumCollaborator.album_id == Album.id)
            .where(
                AlbumImage.image_id == image.id,
                AlbumCollaborator.user_id == me,
                live(AlbumCollaborator.expires_at),
                album_conveys(image.owner_id, image.org_id),
                grantee_in_org(Album, me),
            )
            .scalar_subquery()
        )
        direct = (
            select(ImageCollaborator.permission)
            .where(
                ImageCollaborator.image_id == image.id,
                ImageCollaborator.user_id == me,
                live(ImageCollaborator.expires_at),
            )
            .scalar_subquery()
        )
        row = await reads.first(select(_org_role(image.org_id, me), direct, via_album))
        if row is not None:
            org_role, permission, best = tuple(row)
            collaborator = permission_level([permission] if permission else [], IMAGE_PERMISSIONS)
            # An album grant is about the album: on its images it conveys at
            # most download (editing an image's metadata takes an image grant).
            album = Level(min(best or 0, Level.DOWNLOAD))
    bearer = await _image_link_level(reads, caller.link_id, image)
    return Grants(
        caller.user_id, caller.admin, org_role, collaborator, album, bearer, caller.signed
    )


async def _image_link_level(reads: FastReader, link_id: str | None, image: ImageRef) -> Level:
    if link_id is None:
        return Level.NONE
    in_album = exists(
        select(AlbumImage.image_id)
        .join(Album, Album.id == AlbumImage.album_id)
        .where(
            AlbumImage.album_id == ShareLink.album_id,
            AlbumImage.image_id == image.id,
            album_conveys(image.owner_id, image.org_id),
        )
    )
    row = await reads.first(
        select(ShareLink.permissions, ShareLink.expires_at, ShareLink.revoked_at).where(
            ShareLink.id == link_id,
            or_(ShareLink.image_id == image.id, and_(ShareLink.album_id.is_not(None), in_album)),
        )
    )
    return _live_link_level(row)


def _live_link_level(row: Row[Any] | None) -> Level:
    if row is None:
        return Level.NONE
    permissions, expires_at, revoked_at = tuple(row)
    if revoked_at is not None or (expires_at is not None and expires_at <= utcnow()):
        return Level.NONE
    return permission_level(list(permissions or []), LINK_PERMISSIONS)


async def album_grants(reads: FastReader, caller: Caller, album: Album) -> Grants:
    base = Grants(user_id=caller.user_id, admin=caller.admin)
    if caller.user_id is None and caller.link_id is None:
        return base
    org_role: str | None = None
    collaborator = Level.NONE
    if caller.user_id is not None:
        direct = (
            select(AlbumCollaborator.permission)
            .where(
                AlbumCollaborator.album_id == album.id,
                AlbumCollaborator.user_id == caller.user_id,
                live(AlbumCollaborator.expires_at),
            )
            .scalar_subquery()
        )
        row = await reads.first(select(_org_role(album.org_id, caller.user_id), direct))
        if row is not None:
            org_role, permission = tuple(row)
            # On an org album a collaborator grant counts only for members.
            if album.org_id is None or org_role is not None:
                collaborator = permission_level(
                    [permission] if permission else [], ALBUM_PERMISSIONS
                )
    bearer = Level.NONE
    if caller.link_id is not None:
        link = await reads.first(
            select(ShareLink.permissions, ShareLink.expires_at, ShareLink.revoked_at).where(
                ShareLink.id == caller.link_id, ShareLink.album_id == album.id
            )
        )
        bearer = _live_link_level(link)
    return Grants(caller.user_id, caller.admin, org_role, collaborator, Level.NONE, bearer)
