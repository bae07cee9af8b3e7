"""The listing rule of ``access.policy.listable`` as one SQL condition.

Listings and search filter in the database, so the rule is written a second
time here; tests/integration/sharing/test_matrix.py checks that the two agree
for every actor and visibility.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    exists,
    false,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import aliased

from imghost.access.grants import Caller, album_conveys, grantee_in_org, live
from imghost.access.policy import GRANTED_VISIBILITIES, MANAGING_ROLES, OPEN_VISIBILITIES
from imghost.albums.models import Album, AlbumCollaborator, AlbumImage
from imghost.images.models import Image
from imghost.orgs.models import OrgMember
from imghost.sharing.models import ImageCollaborator

# A user id: a value, or a bind parameter of a statement built once.
UserRef = str | ColumnElement[str]


def _granted(me: UserRef, my_orgs: Select[Any], album: Any) -> ColumnElement[bool]:
    """The caller holds a grant on the image: as a collaborator, through an org
    role, or through a collaborator grant on an album (``album``: ``Album`` or
    an alias of it) that reaches the image."""
    return or_(
        exists(
            select(ImageCollaborator.image_id).where(
                ImageCollaborator.image_id == Image.id,
                ImageCollaborator.user_id == me,
                live(ImageCollaborator.expires_at),
            )
        ),
        Image.org_id.in_(my_orgs),
        exists(
            select(AlbumImage.image_id)
            .join(album, album.id == AlbumImage.album_id)
            .join(AlbumCollaborator, AlbumCollaborator.album_id == album.id)
            .where(
                AlbumImage.image_id == Image.id,
                AlbumCollaborator.user_id == me,
                live(AlbumCollaborator.expires_at),
                album_conveys(Image.owner_id, Image.org_id, album),
                grantee_in_org(album, me),
            )
        ),
    )


def granted_image_ids(me: UserRef) -> CompoundSelect[Any]:
    """Ids of every image ``me`` may reach through a grant that is not
    ownership: image collaborator, an org of theirs, an album collaborator
    grant. A superset of what ``_granted`` and the org-admin rule allow, small
    for most users, so a listing can start from it instead of scanning."""
    my_orgs = select(OrgMember.org_id).where(OrgMember.user_id == me)
    return union_all(
        select(ImageCollaborator.image_id).where(
            ImageCollaborator.user_id == me, live(ImageCollaborator.expires_at)
        ),
        # IS NOT NULL: most images have no org; it lets both databases use
        # the partial index of org images instead of scanning.
        select(Image.id).where(Image.org_id.is_not(None), Image.org_id.in_(my_orgs)),
        select(AlbumImage.image_id)
        .join(AlbumCollaborator, AlbumCollaborator.album_id == AlbumImage.album_id)
        .where(AlbumCollaborator.user_id == me, live(AlbumCollaborator.expires_at)),
    )


def owned_images(me: UserRef) -> ColumnElement[bool]:
    """Images ``me`` holds as owner: their own, outside any org or in an org
    they still belong to (a member who left keeps no owner rights there)."""
    my_orgs = select(OrgMember.org_id).where(OrgMember.user_id == me)
    return and_(Image.owner_id == me, or_(Image.org_id.is_(None), Image.org_id.in_(my_orgs)))


def holds_grants(me: UserRef) -> Select[Any]:
    """Whether ``me`` holds any grant ``granted_image_ids`` starts from (most
    users hold none: their listings then skip the grant rule altogether)."""
    return select(
        or_(
            exists(
                select(ImageCollaborator.image_id).where(
                    ImageCollaborator.user_id == me, live(ImageCollaborator.expires_at)
                )
            ),
            exists(select(OrgMember.org_id).where(OrgMember.user_id == me)),
            exists(
                select(AlbumCollaborator.album_id).where(
                    AlbumCollaborator.user_id == me, live(AlbumCollaborator.expires_at)
                )
            ),
        )
    )


def listable_images(caller: Caller, me: UserRef | None = None) -> ColumnElement[bool]:
    """``me``: the caller's id as a bind parameter, for a statement built once
    and run for many callers (default: ``caller.user_id`` as a value)."""
    live = Image.deleted_at.is_(None)
    if caller.admin:
        return live
    # Withheld images (takedown, suspension) are listed for their owner alone.
    shown = Image.withheld.is_(None)
    public = and_(Image.visibility == "public", Image.status == "ready", shown)
    me = caller.user_id if me is None else me
    if me is None:
        return and_(live, public)
    my_orgs = select(OrgMember.org_id).where(OrgMember.user_id == me)
    owned = owned_images(me)
    granted = _granted(me, my_orgs, Album)
    # Grants reach only shared images here: public ones are in `public`, unlisted
    # ones are never listed for others, private ones are the owner's alone.
    shared = and_(Image.visibility == "shared", Image.status == "ready", shown, granted)
    # Org owners and admins hold owner level on the org's images: they see
    # unfinished and private ones too (but, not being the owner, never unlisted ones).
    managed = and_(
        Image.org_id.in_(my_orgs.where(OrgMember.role.in_(MANAGING_ROLES))),
        Image.visibility != "unlisted",
        shown,
    )
    return and_(live, or_(owned, public, shared, managed))


def viewable_images(caller: Caller) -> ColumnElement[bool]:
    """Images the caller may see on their own (``level >= VIEW`` without any
    bearer credential), unlisted ones included: an album shows them by id.

    Mirrors ``policy.level`` for images: owners and org admins see unfinished
    images; everyone else only ready ones, public or unlisted, or shared ones
    they hold a grant on (image collaborator, org role, a collaborator grant
    on an album of the image's namespace). Private ones: owner level only.
    """
    if caller.admin:
        return true()
    # A withheld image answers 451 to everyone else, its owner included.
    return and_(Image.withheld.is_(None), _viewable(caller))


def _viewable(caller: Caller) -> ColumnElement[bool]:
    ready = Image.status == "ready"
    public = and_(Image.visibility.in_(OPEN_VISIBILITIES), ready)
    me = caller.user_id
    if me is None:
        return public
    my_orgs = select(OrgMember.org_id).where(OrgMember.user_id == me)
    managing_orgs = my_orgs.where(OrgMember.role.in_(MANAGING_ROLES))
    owner_level = or_(owned_images(me), Image.org_id.in_(managing_orgs))
    # Aliased: this runs inside queries that already have `albums` in scope.
    granted = _granted(me, my_orgs, aliased(Album))
    reachable = Image.visibility.in_(GRANTED_VISIBILITIES)
    return or_(owner_level, public, and_(ready, reachable, granted))


def album_images_visible(
    caller: Caller, *, album_view: bool, explicit: bool
) -> ColumnElement[bool]:
    """Which images of an album the caller sees in it; ``Album`` must be in the
    query (joined, or correlated from an outer query).

    ``album_view``: the caller's album level is at least VIEW. ``explicit``:
    that level comes from a grant (ownership, admin, org role, album
    collaborator, album share link), not merely from the album being public or
    unlisted. Images of the album's own namespace are shown through the album
    (shared ones only with an explicit grant, private ones never); any other
    image only when the caller may see it on its own. Unfinished images only
    for owner-level callers.
    """
    live = Image.deleted_at.is_(None)
    if caller.admin:
        return live
    shown = viewable_images(caller)
    if album_view:
        through_album = and_(Image.status == "ready", album_conveys(Image.owner_id, Image.org_id))
        shown_through = OPEN_VISIBILITIES if not explicit else GRANTED_VISIBILITIES
        through_album = and_(
            through_album, Image.visibility.in_(shown_through), Image.withheld.is_(None)
        )
        shown = or_(shown, through_album)
    return and_(live, shown)


def listed_albums(caller: Caller) -> ColumnElement[bool]:
    """Albums in the caller's own listing: theirs, their orgs', and those they
    collaborate on. Public albums of others are reached by id, never listed;
    private ones only by their owner and the org's managers."""
    me = caller.user_id
    if me is None:
        return false()
    my_orgs = select(OrgMember.org_id).where(OrgMember.user_id == me)
    managed = my_orgs.where(OrgMember.role.in_(MANAGING_ROLES))
    return or_(
        and_(Album.owner_id == me, or_(Album.org_id.is_(None), Album.org_id.in_(my_orgs))),
        Album.org_id.in_(managed),
        and_(Album.org_id.in_(my_orgs), Album.visibility.in_(GRANTED_VISIBILITIES)),
        and_(
            Album.visibility.in_(GRANTED_VISIBILITIES),
            exists(
                select(AlbumCollaborator.album_id).where(
                    AlbumCollaborator.album_id == Album.id,
                    AlbumCollaborator.user_id == me,
                    live(AlbumCollaborator.expires_at),
                )
            ),
            grantee_in_org(Album, me),
        ),
    )
