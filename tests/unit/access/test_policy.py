"""The policy on its own: levels per grant, the 403/404 choice, the listing rule."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from imghost.access.policy import (
    ANONYMOUS,
    MAX_GRANT_LIFETIME,
    VISIBILITIES,
    Action,
    Grants,
    Level,
    Resource,
    can,
    grant_expiry,
    grant_live,
    level,
    listable,
    may_assign_role,
    require,
    visibility_after_sharing,
)
from imghost.errors import AppError, Forbidden, NotFound

OWNER = "u_owner"


def image(visibility: str, *, org: str | None = None, ready: bool = True) -> Resource:
    return Resource("image", OWNER, org, visibility, ready)


@pytest.mark.parametrize("visibility", ["public", "unlisted", "shared", "private"])
def test_owner_and_admin_hold_everything(visibility: str) -> None:
    for grants in (Grants(user_id=OWNER), Grants(user_id="u_admin", admin=True)):
        assert level(grants, image(visibility)) == Level.OWNER
        assert level(grants, image(visibility, ready=False)) == Level.OWNER
        assert listable(grants, image(visibility))


def test_anonymous_by_visibility() -> None:
    assert level(ANONYMOUS, image("public")) == Level.DOWNLOAD
    assert level(ANONYMOUS, image("unlisted")) == Level.DOWNLOAD
    assert level(ANONYMOUS, image("shared")) == Level.NONE
    assert level(ANONYMOUS, image("private")) == Level.NONE
    assert listable(ANONYMOUS, image("public"))
    assert not listable(ANONYMOUS, image("unlisted"))
    assert level(ANONYMOUS, image("public", ready=False)) == Level.NONE


@pytest.mark.parametrize(
    ("held", "allowed"),
    [
        (Level.VIEW, {Action.VIEW_METADATA, Action.VIEW_DERIVATIVES, Action.ADD_TO_ALBUM}),
        (
            Level.DOWNLOAD,
            {
                Action.VIEW_METADATA,
                Action.VIEW_DERIVATIVES,
                Action.ADD_TO_ALBUM,
                Action.DOWNLOAD_ORIGINAL,
            },
        ),
        (
            Level.EDIT,
            {
                Action.VIEW_METADATA,
                Action.VIEW_DERIVATIVES,
                Action.ADD_TO_ALBUM,
                Action.DOWNLOAD_ORIGINAL,
                Action.UPLOAD_TO_ALBUM,
                Action.EDIT_METADATA,
            },
        ),
    ],
)
def test_collaborator_levels_on_a_shared_image(held: Level, allowed: set[Action]) -> None:
    grants = Grants(user_id="u_c", collaborator=held)
    for action in Action:
        assert can(grants, action, image("shared")) == (action in allowed), action


def test_org_roles_on_org_images() -> None:
    res = image("shared", org="org_1")
    expected = {
        "owner": Level.OWNER,
        "admin": Level.OWNER,
        "member": Level.DOWNLOAD,
        "viewer": Level.VIEW,
    }
    for role, lvl in expected.items():
        assert level(Grants(user_id="u_x", org_role=role), res) == lvl
    # a role in some org says nothing about a personal image
    assert level(Grants(user_id="u_x", org_role="owner"), image("shared")) == Level.NONE
    # the uploader owns an org image only while a member
    assert level(Grants(user_id=OWNER, org_role="viewer"), res) == Level.OWNER
    assert level(Grants(user_id=OWNER), res) == Level.NONE


def test_bearer_grants_never_list() -> None:
    for grants in (Grants(bearer=Level.DOWNLOAD), Grants(signed=Level.DOWNLOAD)):
        assert level(grants, image("shared")) == Level.DOWNLOAD
        assert not listable(grants, image("shared"))
    assert not listable(Grants(user_id="u_c", collaborator=Level.EDIT), image("unlisted"))
    assert listable(Grants(user_id="u_c", collaborator=Level.VIEW), image("shared"))


DORMANT = [
    Grants(user_id="u_c", collaborator=Level.EDIT),
    Grants(user_id="u_c", album=Level.DOWNLOAD),
    Grants(bearer=Level.DOWNLOAD),
    Grants(user_id="u_x", org_role="member"),
    Grants(user_id="u_x", org_role="viewer"),
]


@pytest.mark.parametrize("kind", ["image", "album"])
def test_private_is_the_owners_alone(kind: str) -> None:
    """Sharing grants are dormant on a private resource and count again once
    it is shared; admins, the org's managers and signed URLs still reach it."""
    private = Resource(kind, OWNER, "org_1", "private")
    shared = Resource(kind, OWNER, "org_1", "shared")
    for grants in DORMANT:
        assert level(grants, private) == Level.NONE, grants
        assert not listable(grants, private), grants
        assert level(grants, shared) >= Level.VIEW, grants
    for grants in (Grants(user_id=OWNER, org_role="member"), Grants(user_id="u_a", admin=True)):
        assert level(grants, private) == Level.OWNER
        assert listable(grants, private)
    for role in ("owner", "admin"):
        managing = Grants(user_id="u_x", org_role=role)
        assert level(managing, private) == Level.OWNER
        assert level(managing, dataclasses.replace(private, ready=False)) == Level.OWNER
    signed = Grants(signed=Level.DOWNLOAD)
    assert level(signed, private) == Level.DOWNLOAD
    assert not listable(signed, private)


def test_unknown_visibility_fails_closed() -> None:
    res = image("secret")
    assert level(Grants(user_id="u_c", collaborator=Level.EDIT), res) == Level.NONE
    assert level(Grants(user_id=OWNER), res) == Level.OWNER


def test_sharing_widens_only_private() -> None:
    assert [visibility_after_sharing(v) for v in VISIBILITIES] == [
        "public",
        "unlisted",
        "shared",
        "shared",
    ]


def test_unfinished_images_exist_only_for_owner_level() -> None:
    res = image("public", ready=False)
    assert level(Grants(user_id="u_c", collaborator=Level.EDIT), res) == Level.NONE
    with pytest.raises(NotFound):
        require(ANONYMOUS, Action.VIEW_METADATA, res)


def test_require_answers_403_for_images_404_for_albums() -> None:
    with pytest.raises(Forbidden):
        require(ANONYMOUS, Action.VIEW_METADATA, image("private"))
    with pytest.raises(Forbidden):
        require(ANONYMOUS, Action.DOWNLOAD_ORIGINAL, image("private"))
    album = Resource("album", OWNER, None, "private")
    with pytest.raises(NotFound):
        require(ANONYMOUS, Action.VIEW_METADATA, album)
    with pytest.raises(Forbidden):  # may see it, may not upload
        require(ANONYMOUS, Action.UPLOAD_TO_ALBUM, Resource("album", OWNER, None, "public"))


def test_public_album_confers_view_only() -> None:
    album = Resource("album", OWNER, None, "public")
    assert level(ANONYMOUS, album) == Level.VIEW
    assert level(Grants(user_id="u_c", collaborator=Level.UPLOAD), album) == Level.UPLOAD


@pytest.mark.parametrize(
    ("actor", "target", "new", "ok"),
    [
        ("owner", "owner", "member", True),
        ("owner", None, "owner", True),
        ("admin", "member", "admin", True),
        ("admin", "viewer", None, True),
        ("admin", "owner", "member", False),
        ("admin", "member", "owner", False),
        ("member", "viewer", "member", False),
        ("viewer", None, "viewer", False),
        (None, None, "viewer", False),
    ],
)
def test_member_management(
    actor: str | None, target: str | None, new: str | None, ok: bool
) -> None:
    assert may_assign_role(actor, target, new) == ok


def failed_after_scan(visibility: str, org: str | None = None) -> Resource:
    return Resource("image", OWNER, org, visibility, ready=False, retrievable=True)


def test_failed_after_the_scan_is_retrievable_but_not_listed() -> None:
    public = failed_after_scan("public")
    assert level(ANONYMOUS, public) == Level.DOWNLOAD
    assert can(ANONYMOUS, Action.DOWNLOAD_ORIGINAL, public)
    assert not listable(ANONYMOUS, public)  # it has no thumbnail: reached by id only
    viewer = Grants(user_id="u_v", collaborator=Level.VIEW)
    assert level(viewer, failed_after_scan("shared")) == Level.VIEW
    assert not listable(viewer, failed_after_scan("shared"))
    # Owner-level callers list it, as every unfinished image.
    assert listable(Grants(user_id=OWNER), public)
    assert listable(Grants(user_id="u_a", org_role="admin"), failed_after_scan("public", "o_1"))
    # Private: 403 like a ready one (it exists for those allowed), not 404.
    with pytest.raises(Forbidden):
        require(ANONYMOUS, Action.VIEW_METADATA, failed_after_scan("private"))
    # A scan that did not pass (or has not run): 404 to everyone but owners.
    with pytest.raises(NotFound):
        require(ANONYMOUS, Action.VIEW_METADATA, image("public", ready=False))


def test_a_grant_expiry_is_in_the_future_and_bounded() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert grant_expiry(None, now) is None
    plus_one = dt.timezone(dt.timedelta(hours=1))
    local = dt.datetime(2030, 1, 1, 2, 0, tzinfo=plus_one)  # 01:00 UTC
    assert grant_expiry(local, now) == dt.datetime(2030, 1, 1, 1, 0, tzinfo=dt.UTC)
    assert grant_expiry(now + MAX_GRANT_LIFETIME, now) == now + MAX_GRANT_LIFETIME
    for bad, code in (
        (now, "expires_at_in_past"),
        (now - dt.timedelta(seconds=1), "expires_at_in_past"),
        (now + MAX_GRANT_LIFETIME + dt.timedelta(seconds=1), "expires_at_too_far"),
        (dt.datetime(2030, 6, 1), "invalid_expires_at"),
    ):
        with pytest.raises(AppError) as caught:
            grant_expiry(bad, now)
        assert (caught.value.status, caught.value.code) == (422, code)
    assert grant_live(None, now) and grant_live(now + dt.timedelta(microseconds=1), now)
    assert not grant_live(now, now)
