"""Account deletion: the request, its grace period, cancelling, and the tombstone.

States, all on the ``users`` row (so the request path reads nothing more):

1. *scheduled* — ``delete_after`` set (now + ``IMGHOST_ACCOUNT_DELETION_GRACE``).
   Every session and API key was ended by the request; the user may sign in again,
   but such a session may only read the account, cancel and export
   (:func:`allowed_while_scheduled`). Cancelling clears the schedule.
2. *tombstone* — ``deleted_at`` set by the maintenance pass once the grace passed:
   e-mail and username are scrubbed (freed for new sign-ups), the password is
   unusable, credentials are ended again. From here on the deletion only moves
   forward (``accounts.tasks.finish``).
3. *purged* — ``purged_at`` set: every byte and row of the user's own is gone;
   the row stays so what outlives the user (org images) still points at it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts.models import User
from imghost.auth import services as auth
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.orgs import services as orgs

# An argon2 hash never looks like this, so no password verifies against it.
UNUSABLE_PASSWORD = "!deleted"  # noqa: S105 - not a secret: it matches no password


async def request_deletion(
    session: AsyncSession, user: User, password: str, grace: int, now: dt.datetime | None = None
) -> User:
    """Schedule the deletion of ``user`` after ``grace`` seconds, confirmed by the
    password; ends every session and API key of the account (flushed).

    A request while one is scheduled keeps the first date: asking twice does not
    postpone the deletion."""
    # The hash is read, then the transaction ended, so the pooled connection is
    # not held while the check waits for a CPU slot (as login does).
    stored = user.password_hash
    await session.rollback()
    if not await auth.password_matches(stored, password):
        raise AppError(403, "invalid_password", "The password is incorrect.")
    await session.refresh(user)
    sole = await orgs.sole_owned_orgs(session, user.id)
    if sole:
        raise AppError(
            409,
            "last_owner",
            f"You are the only owner of {', '.join(sole)}: make another member owner "
            "or delete the org first, so the org keeps an owner.",
        )
    now = now or utcnow()
    if user.delete_after is None:
        user.deletion_requested_at = now
        user.delete_after = now + dt.timedelta(seconds=grace)
    await auth.end_all_credentials(session, user.id, "account_deletion")
    await session.flush()
    return user


async def cancel_deletion(session: AsyncSession, user: User) -> User:
    if user.delete_after is None or user.deleted_at is not None:
        raise AppError(404, "no_deletion_scheduled", "No deletion of this account is scheduled.")
    user.deletion_requested_at = None
    user.delete_after = None
    await session.flush()
    return user


async def due(session: AsyncSession, now: dt.datetime, limit: int) -> list[str]:
    """Accounts whose grace period has passed and that are not tombstones yet."""
    rows = await session.scalars(
        select(User.id)
        .where(User.delete_after <= now, User.deleted_at.is_(None))
        .order_by(User.delete_after)
        .limit(limit)
    )
    return list(rows)


async def unfinished(session: AsyncSession, limit: int) -> list[str]:
    """Tombstones whose purge has not finished (begun by a pass that may have crashed)."""
    rows = await session.scalars(
        select(User.id)
        .where(User.deleted_at.is_not(None), User.purged_at.is_(None))
        .order_by(User.deleted_at)
        .limit(limit)
    )
    return list(rows)


async def make_tombstone(session: AsyncSession, user_id: str, now: dt.datetime) -> bool:
    """Step 2: scrub the row (conditional on the schedule still being due, under
    the row lock on PostgreSQL, so a cancel committed first wins). Flushed."""
    user = await session.get(User, user_id, with_for_update=True, populate_existing=True)
    if user is None or user.deleted_at is not None:
        return user is not None
    if user.delete_after is None or user.delete_after > now:
        return False  # cancelled meanwhile
    user.deleted_at = now
    # Freed for new accounts; "~" is outside the sign-up alphabet, so no one can
    # take the tombstone's name, and ".invalid" is a reserved, undeliverable domain.
    user.email = f"{user.id}@deleted.invalid"
    user.username = f"~{user.id}"
    user.password_hash = UNUSABLE_PASSWORD
    user.display_name = None
    user.is_admin = False
    # The scrubbed address is no one's: nothing addressed to an e-mail is claimed by it.
    user.email_verified_at = None
    await auth.end_all_credentials(session, user.id, "account_deleted")
    await session.flush()
    return True


async def mark_purged(session: AsyncSession, user_id: str, now: dt.datetime) -> None:
    user = await session.get(User, user_id)
    if user is not None and user.purged_at is None:
        user.purged_at = now
        await session.flush()
