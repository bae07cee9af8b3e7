"""The listing rule of ``sharing.policy.listable`` as one SQL condition.

Listings and search filter in the database, so the rule is written a second
time here; tests/integration/sharing/test_matrix.py checks that the two agree
for every actor and visibility.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, select

from imghost.accounts.models import OrgMember
from imghost.images.models import Image
from imghost.sharing.grants import Caller, same_namespace
from imghost.sharing.models import Album, AlbumCollaborator, AlbumImage, ImageCollaborator


def listable_images(caller: Caller) -> ColumnElement[bool]:
    live = Image.deleted_at.is_(None)
    if caller.admin:
        return live
    public = and_(Image.visibility == "public", Image.status == "ready")
    me = caller.user_id
    if me is None:
        return and_(live, public)
    my_orgs = select(OrgMember.org_id).where(OrgMember.user_id == me)
    contributing_orgs = my_orgs.where(OrgMember.role.in_(("owner", "admin", "member")))
    owned = and_(
        Image.owner_id == me,
        or_(Image.org_id.is_(None), Image.org_id.in_(contributing_orgs)),
    )
    granted = or_(
        exists(
            select(ImageCollaborator.image_id).where(
                ImageCollaborator.image_id == Image.id, ImageCollaborator.user_id == me
            )
        ),
        Image.org_id.in_(my_orgs),
        exists(
            select(AlbumImage.image_id)
            .join(Album, Album.id == AlbumImage.album_id)
            .join(AlbumCollaborator, AlbumCollaborator.album_id == Album.id)
            .where(
                AlbumImage.image_id == Image.id,
                AlbumCollaborator.user_id == me,
                same_namespace(Image.owner_id, Image.org_id),
            )
        ),
    )
    shared_private = and_(Image.visibility == "private", Image.status == "ready", granted)
    return and_(live, or_(owned, public, shared_private))
