"""Suspensions: an admin stops an account — no sign-in, no credential works
(``auth.services.check_not_suspended``), every image of the user withheld
with the reason ``suspended`` — and lifts it again, which restores all of it
(sessions and API keys are not revoked, only refused meanwhile).

Which images: all the user uploaded, in any visibility and namespace (an
org's too): the account's content is what is suspended. An image taken down
stays withheld for its takedown either way. Services flush, never commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.audit import services as audit
from imghost.errors import AppError
from imghost.images import services as images
from imghost.notifications import services as notifications


@dataclass(frozen=True)
class Suspension:
    user_id: str
    username: str
    suspended_at: dt.datetime | None
    reason: str | None
    images_changed: int  # withheld by a suspension, released by its end


async def suspend(
    session: AsyncSession, who: str, *, reason: str, admin_id: str | None
) -> Suspension:
    """``who``: a user id, username or e-mail. The user is told (in-app and by
    e-mail when they get e-mail) with the reason."""
    user = await accounts.find_user(session, who)
    if user.id == admin_id:
        raise AppError(409, "cannot_suspend_self", "You cannot suspend your own account.")
    if user.suspended_at is not None:
        raise AppError(409, "already_suspended", "This account is already suspended.")
    await accounts.set_suspension(session, user, reason)
    changed = await images.withhold_owner(session, user.id)
    await notifications.notify(
        session,
        user_id=user.id,
        kind="account.suspended",
        title="Your account was suspended",
        body=(
            f"Reason: {reason}. You cannot sign in, your API keys do not work and your "
            "images are unavailable to others until the suspension is lifted. Reply to "
            "the site's administrators to appeal."
        ),
        data={"reason": reason},
    )
    await audit.record(
        session,
        "admin.suspend",
        actor_id=admin_id,
        actor_kind=audit.by_admin(admin_id),
        target=("user", user.id),
        details={"reason": reason, "imagesChanged": changed},
    )
    return Suspension(user.id, user.username, user.suspended_at, reason, changed)


async def unsuspend(session: AsyncSession, who: str, *, admin_id: str | None) -> Suspension:
    """Lift the suspension: sign-in, sessions, keys and images come back as they were."""
    user = await accounts.find_user(session, who)
    if user.suspended_at is None:
        raise AppError(409, "not_suspended", "This account is not suspended.")
    await accounts.set_suspension(session, user, None)
    changed = await images.release_owner(session, user.id)
    await notifications.notify(
        session,
        user_id=user.id,
        kind="account.unsuspended",
        title="Your account's suspension was lifted",
        body="You can sign in again; your images are available as before.",
        data={},
    )
    await audit.record(
        session,
        "admin.unsuspend",
        actor_id=admin_id,
        actor_kind=audit.by_admin(admin_id),
        target=("user", user.id),
        details={"imagesChanged": changed},
    )
    return Suspension(user.id, user.username, None, None, changed)
