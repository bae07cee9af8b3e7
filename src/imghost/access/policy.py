"""The one authorization policy: what a caller may do with an image, an album or an org.

Pure and synchronous. Callers first gather the facts — the resource's
owner, namespace, visibility and status, and the caller's grants on it (see
``access.grants``) — then ask :func:`level` or :func:`require`. No I/O here,
so every endpoint, the delivery path and listings apply the same rule, and
the whole actor-by-action matrix is checkable without a server.

Access is a level: each grant (ownership, an org role, a collaborator
permission, an album grant, a share link, a signed URL, visibility) confers
one, the caller holds the highest, and each action needs a minimum.

Visibility widens in steps, each value letting in everyone the next one does:

- public / unlisted images: anyone may view and download (everyone but the
  owner gets the GPS-free copy); unlisted ones are never *listed* for others.
- shared: the owner and those it is shared with — collaborators, album
  grants, org roles, share links — plus admins and signed URLs.
- private: the owner alone, plus those no sharing is needed for: admins, the
  org's managing roles (they own the org's content) and signed URLs (a
  capability the owner minted; no row records it, so it cannot be told
  apart from the owner's own use). Every other grant stays in place but is
  dormant: it counts again once the resource is ``shared``.

Anyone else gets 403 on an image (the seed asks for 403 to anonymous
callers; ids carry 128 random bits, so a 403 reveals nothing a guesser could
find).
- an image that is not ``ready`` exists only for owner-level callers (404
  for everyone else), except a ``failed`` one whose scan passed: its
  original stays retrievable by everyone its visibility and grants allow,
  though it is listed for owner-level callers only (it has no thumbnails);
  quarantined bytes are served to nobody but site admins.
- albums and orgs the caller cannot see answer 404, exactly like missing ones.
- a withheld image (an admin's takedown, or its owner's suspension) answers
  451 to everyone but site admins — its owner included — on every action
  but delete, wherever the caller would otherwise have been let in; callers
  who could not see it before keep their 403/404 (a 451 says the image
  exists). It is listed for its owner alone (marked), so they know.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import get_args

from imghost.errors import AppError, Forbidden, NotFound
from imghost.schemas import Visibility

# Every visibility, widest first.
VISIBILITIES: tuple[str, ...] = get_args(Visibility)
# Anyone holding the id may see these; only public ones are listed.
OPEN_VISIBILITIES = ("public", "unlisted")
# Where grants short of ownership count. Any other value (``private``, or
# one this code does not know) is the owner's alone: unknown values fail closed.
GRANTED_VISIBILITIES = (*OPEN_VISIBILITIES, "shared")


class Level(IntEnum):
    NONE = 0
    VIEW = 1  # metadata, derivatives, transforms; see an album and its images
    DOWNLOAD = 2  # also the original bytes
    UPLOAD = 3  # albums: also add images (upload new ones or add ones you can see)
    EDIT = 4  # also title, description, tags; albums: order, cover, remove images
    OWNER = 5  # also delete, share, visibility, collaborators; orgs: manage members


class Action(StrEnum):
    VIEW_METADATA = "view_metadata"
    VIEW_DERIVATIVES = "view_derivatives"
    DOWNLOAD_ORIGINAL = "download_original"
    EDIT_METADATA = "edit_metadata"
    DELETE = "delete"
    SHARE = "share"
    ADD_TO_ALBUM = "add_to_album"  # on the image: the caller must be able to see it
    UPLOAD_TO_ALBUM = "upload_to_album"  # on the album
    MANAGE_MEMBERS = "manage_members"


NEEDS: dict[Action, Level] = {
    Action.VIEW_METADATA: Level.VIEW,
    Action.VIEW_DERIVATIVES: Level.VIEW,
    Action.ADD_TO_ALBUM: Level.VIEW,
    Action.DOWNLOAD_ORIGINAL: Level.DOWNLOAD,
    Action.UPLOAD_TO_ALBUM: Level.UPLOAD,
    Action.EDIT_METADATA: Level.EDIT,
    Action.DELETE: Level.OWNER,
    Action.SHARE: Level.OWNER,
    Action.MANAGE_MEMBERS: Level.OWNER,
}

# Collaborator permissions, as stored and as accepted by the API.
IMAGE_PERMISSIONS: dict[str, Level] = {
    "view": Level.VIEW,
    "download": Level.DOWNLOAD,
    "edit": Level.EDIT,
}
ALBUM_PERMISSIONS: dict[str, Level] = {
    "view": Level.VIEW,
    "download": Level.DOWNLOAD,
    "upload": Level.UPLOAD,
    "edit": Level.EDIT,
}
# Share links and signed URLs convey at most these.
LINK_PERMISSIONS: dict[str, Level] = {"view": Level.VIEW, "download": Level.DOWNLOAD}

ORG_ROLES = ("owner", "admin", "member", "viewer")
# What an org role confers on the org's images and albums. Uploading to an
# org album takes an explicit album grant (or admin): members cannot by default.
ORG_ROLE_LEVEL: dict[str, Level] = {
    "owner": Level.OWNER,
    "admin": Level.OWNER,
    "member": Level.DOWNLOAD,
    "viewer": Level.VIEW,
}
# The roles that manage an org's images and albums (everything an owner may do).
MANAGING_ROLES = tuple(role for role, held in ORG_ROLE_LEVEL.items() if held is Level.OWNER)


def visibility_after_sharing(visibility: str) -> str:
    """The visibility a resource has once its owner shares it (a collaborator,
    a share link): a private one becomes shared, in the same transaction, as
    sharing a file in Google Drive does; a grant on something only its owner
    may see would otherwise grant nothing. Any other value stays as it is."""
    return "shared" if visibility == "private" else visibility


# The longest a collaborator grant may be given for: a date further out is more
# likely a typo (a year 2250) than a wish; a grant without end has no expiry.
MAX_GRANT_LIFETIME = dt.timedelta(days=3653)  # 10 years


def grant_expiry(expires_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """A requested grant expiry as stored (UTC), or 422 with why it cannot be.

    None: the grant lasts until revoked. The time must be in the future (a
    grant that is over at once is a mistake, not a wish) and at most
    :data:`MAX_GRANT_LIFETIME` away.
    """
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise AppError(
            422,
            "invalid_expires_at",
            "expiresAt needs a time zone offset (RFC 3339), for example 2030-01-31T12:00:00Z.",
        )
    expires_at = expires_at.astimezone(dt.UTC)
    if expires_at <= now:
        raise AppError(422, "expires_at_in_past", "expiresAt must be in the future.")
    if expires_at > now + MAX_GRANT_LIFETIME:
        raise AppError(
            422,
            "expires_at_too_far",
            "expiresAt may be at most 10 years ahead; leave it out for a grant without end.",
        )
    return expires_at


def grant_live(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a grant with this expiry still counts (None: until revoked)."""
    return expires_at is None or expires_at > now


def permission_level(permissions: list[str] | tuple[str, ...], table: dict[str, Level]) -> Level:
    return max((table[p] for p in permissions if p in table), default=Level.NONE)


@dataclass(frozen=True)
class Resource:
    """The facts about an image or album that access depends on."""

    kind: str  # "image" | "album"
    owner_id: str
    org_id: str | None
    visibility: str
    ready: bool = True  # images: processing finished well (status ready)
    # images: processing failed after the scan passed; the original is retrievable
    retrievable: bool = False
    # images: why it is withheld from all but admins (``takedown``, ``suspended``)
    withheld: str | None = None


@dataclass(frozen=True)
class Grants:
    """What one caller holds on one resource (gathered by ``access.grants``)."""

    user_id: str | None = None
    admin: bool = False
    org_role: str | None = None  # the caller's role in the resource's org
    collaborator: Level = Level.NONE  # a per-resource grant
    album: Level = Level.NONE  # images: the best grant through an album in the same namespace
    bearer: Level = Level.NONE  # a live share link reaching this resource
    signed: Level = Level.NONE  # a verified signed URL for exactly this path


ANONYMOUS = Grants()


def is_owner(grants: Grants, resource: Resource) -> bool:
    """The uploader/creator owns it; in an org's namespace only while still a member."""
    if grants.user_id is None or grants.user_id != resource.owner_id:
        return False
    return resource.org_id is None or grants.org_role is not None


def level(grants: Grants, resource: Resource) -> Level:
    if grants.admin or is_owner(grants, resource):
        return Level.OWNER
    role = Level.NONE
    if resource.org_id is not None and grants.org_role is not None:
        role = ORG_ROLE_LEVEL[grants.org_role]
    if resource.visibility in GRANTED_VISIBILITIES:
        held = max(grants.collaborator, grants.album, grants.bearer, grants.signed, role)
    else:
        # Private: only the org's managers (owner level) and signed URLs reach it.
        held = max(grants.signed, role if role >= Level.OWNER else Level.NONE)
    if held < Level.OWNER and not (resource.ready or resource.retrievable):
        return Level.NONE  # unfinished or refused images exist only for their owners
    if resource.visibility in OPEN_VISIBILITIES and resource.kind == "image":
        held = max(held, Level.DOWNLOAD)
    elif resource.visibility in OPEN_VISIBILITIES:
        held = max(held, Level.VIEW)  # an album's originals follow each image's own rule
    return held


def can(grants: Grants, action: Action, resource: Resource) -> bool:
    return level(grants, resource) >= NEEDS[action]


def listable(grants: Grants, resource: Resource) -> bool:
    """Whether the resource appears in listings for this caller.

    Unlisted resources of others never do, whatever the caller holds; bearer
    credentials (links, signed URLs) never list anything.
    """
    if grants.admin:
        return True
    if resource.withheld is not None:
        return is_owner(grants, resource)  # marked in the owner's listing only
    if is_owner(grants, resource):
        return True
    if resource.visibility == "unlisted":
        return False
    without_bearers = Grants(**{**grants.__dict__, "bearer": Level.NONE, "signed": Level.NONE})
    held = level(without_bearers, resource)
    if not resource.ready and held < Level.OWNER:
        return False  # a failed image is reached by its id, never listed: it has no thumbnail
    return held >= Level.VIEW


def require(grants: Grants, action: Action, resource: Resource) -> Level:
    """The caller's level, or the error to answer: 404 when the resource must
    look missing, 403 when the caller may know it exists but not do this,
    451 when it is withheld (see :func:`check_withheld`)."""
    held = level(grants, resource)
    if held > Level.NONE and action is not Action.DELETE:
        check_withheld(resource.withheld, grants.admin)
    if held >= NEEDS[action]:
        return held
    if held == Level.NONE:
        if resource.kind != "image" or not (resource.ready or resource.retrievable):
            raise NotFound(f"No such {resource.kind}.")
        if resource.visibility == "shared":
            raise Forbidden(f"This {resource.kind} is not shared with you.")
        raise Forbidden(f"This {resource.kind} is private.")
    raise Forbidden(_REFUSALS[action].format(kind=resource.kind))


UNAVAILABLE = "unavailable_for_legal_reasons"
_WITHHELD_DETAIL = {
    "takedown": "This image has been taken down in response to a legal request.",
    "suspended": "This image is unavailable: its owner's account is suspended.",
}


def check_withheld(withheld: str | None, admin: bool = False) -> None:
    """The one place a withheld image is refused: 451 Unavailable For Legal
    Reasons (RFC 7725) with ``reason`` saying why, for everyone but site admins.

    Never stored by any cache: a reinstatement must bite at once, and a 451
    cached in front would outlive it (docs/OPERATIONS.md: the edge's purge)."""
    if withheld is None or admin:
        return
    raise AppError(
        451,
        UNAVAILABLE,
        _WITHHELD_DETAIL.get(withheld, "This image is unavailable."),
        headers={"Cache-Control": "no-store"},
        reason=withheld,
    )


_REFUSALS: dict[Action, str] = {
    Action.VIEW_METADATA: "You may not view this {kind}.",
    Action.VIEW_DERIVATIVES: "You may not view this {kind}.",
    Action.ADD_TO_ALBUM: "You may not view this {kind}.",
    Action.DOWNLOAD_ORIGINAL: "You may view this {kind} but not download its original.",
    Action.UPLOAD_TO_ALBUM: "You may not add images to this album.",
    Action.EDIT_METADATA: "You may not edit this {kind}.",
    Action.DELETE: "Only the {kind}'s owner can delete it.",
    Action.SHARE: "Only the {kind}'s owner can share it or change who may see it.",
    Action.MANAGE_MEMBERS: "Only the owner can manage who has access.",
}


def org_level(role: str | None, admin: bool = False) -> Level:
    """A caller's level on the org itself (not on its content)."""
    if admin:
        return Level.OWNER
    return ORG_ROLE_LEVEL.get(role or "", Level.NONE)


def may_assign_role(actor_role: str | None, target_current: str | None, new: str | None) -> bool:
    """Member management: owners do anything; admins manage members and viewers
    (and other admins) but can neither touch owners nor make someone owner."""
    if actor_role == "owner":
        return True
    if actor_role != "admin":
        return False
    return target_current != "owner" and new != "owner"
