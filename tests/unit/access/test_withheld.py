"""The policy's 451: who gets it, for which actions, and who keeps their 403/404."""

from __future__ import annotations

import pytest

from imghost.access.policy import (
    ANONYMOUS,
    Action,
    Grants,
    Level,
    Resource,
    check_withheld,
    listable,
    require,
)
from imghost.errors import AppError

OWNER = "u_owner"
REASONS = ("takedown", "suspended")


def withheld(visibility: str, reason: str, *, ready: bool = True) -> Resource:
    return Resource("image", OWNER, None, visibility, ready, withheld=reason)


def _code(grants: Grants, action: Action, resource: Resource) -> int:
    try:
        require(grants, action, resource)
    except AppError as exc:
        return exc.status
    return 200


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("action", [a for a in Action if a is not Action.DELETE])
def test_everyone_who_could_see_it_gets_451_but_admins(reason: str, action: Action) -> None:
    public = withheld("public", reason)
    for grants in (ANONYMOUS, Grants(user_id=OWNER), Grants(user_id="u_x", signed=Level.VIEW)):
        with pytest.raises(AppError) as raised:
            require(grants, action, public)
        assert raised.value.status == 451
        assert raised.value.code == "unavailable_for_legal_reasons"
        assert raised.value.extra == {"reason": reason}
        assert raised.value.headers["Cache-Control"] == "no-store"
    assert require(Grants(user_id="u_admin", admin=True), action, public) == Level.OWNER


@pytest.mark.parametrize("reason", REASONS)
def test_strangers_keep_their_403_and_404(reason: str) -> None:
    # A 451 would tell a stranger that a shared or private image exists.
    for visibility in ("shared", "private"):
        assert _code(ANONYMOUS, Action.VIEW_METADATA, withheld(visibility, reason)) == 403
        assert (
            _code(Grants(user_id="u_x"), Action.VIEW_METADATA, withheld(visibility, reason)) == 403
        )
    # Not ready: it does not exist for them at all.
    unfinished = withheld("public", reason, ready=False)
    assert _code(ANONYMOUS, Action.VIEW_METADATA, unfinished) == 404
    assert _code(Grants(user_id=OWNER), Action.VIEW_METADATA, unfinished) == 451


def test_the_owner_may_still_delete_it() -> None:
    resource = withheld("public", "takedown")
    assert require(Grants(user_id=OWNER), Action.DELETE, resource) == Level.OWNER
    assert _code(ANONYMOUS, Action.DELETE, resource) == 403  # the owner's action, as ever


def test_listed_for_its_owner_and_admins_only() -> None:
    resource = withheld("public", "takedown")
    assert listable(Grants(user_id=OWNER), resource)
    assert listable(Grants(user_id="u_admin", admin=True), resource)
    assert not listable(ANONYMOUS, resource)
    assert not listable(Grants(user_id="u_x", collaborator=Level.DOWNLOAD), resource)


def test_nothing_withheld_passes() -> None:
    check_withheld(None)
    check_withheld("takedown", admin=True)
    with pytest.raises(AppError):
        check_withheld("suspended")
