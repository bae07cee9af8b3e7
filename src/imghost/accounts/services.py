"""Account rules: creating users, reading and changing their settings."""

from __future__ import annotations

import re
from collections.abc import Collection

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

# User is part of this face: other features hold users they get from here.
from imghost.accounts.models import User as User
from imghost.accounts.schemas import UserPatch
from imghost.auth.passwords import hash_password
from imghost.auth.strength import check_password_strength
from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.ids import ID_PREFIXES, looks_like_id, new_id

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_user(session: AsyncSession, username: str, email: str, password: str) -> User:
    email = normalize_email(email)
    if not _EMAIL.match(email):
        raise AppError(422, "invalid_email", "That does not look like an email address.")
    if looks_like_id(username):
        # A user is named by id or username in the same places (sharing,
        # listings): a name that reads as an id would be ambiguous there.
        # Names taken before this rule keep working (ids are matched first).
        prefixes = ", ".join(f"{p}_" for p in ID_PREFIXES)
        raise AppError(
            422,
            "username_reserved",
            f"Usernames may not start like an id ({prefixes}); choose another.",
        )
    await check_password_strength(password, username, email)
    # Hashed before the database is asked: a connection is not held while
    # the hash waits for a CPU slot (a refused duplicate costs one hash).
    password_hash = await hash_password(password)
    taken = await session.scalar(
        select(User.id).where(
            or_(User.email == email, func.lower(User.username) == username.lower())
        )
    )
    if taken:
        raise _conflict()
    user = User(
        id=new_id("u"),
        username=username,
        email=email,
        password_hash=password_hash,
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent signup won the race
        raise _conflict() from exc
    return user


def _conflict() -> AppError:
    # One answer for both fields: which one is taken is not revealed separately.
    return AppError(409, "account_exists", "That username or email is already registered.")


async def get_user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def get_user_by_id_or_name(session: AsyncSession, key: str) -> User:
    """A user by id (``u_…``) or username; usernames match regardless of case,
    as signup keeps them unique regardless of case."""
    user = await session.scalar(select(User).where(or_(User.id == key, User.username == key)))
    if user is None:
        # Only on a miss: the exact match above uses the unique index.
        user = await session.scalar(select(User).where(func.lower(User.username) == key.lower()))
    if user is None:
        raise NotFound("No such user.")
    return user


async def lookup(session: AsyncSession, q: str) -> User:
    """The user whose username or e-mail address is exactly ``q``.

    Exact only (usernames regardless of case, as they are unique that way):
    no prefix or pattern, so it confirms what the caller already knows and
    cannot list anyone. One 404 for every miss.
    """
    q = q.strip()
    if "@" in q:
        user = await find_by_email(session, q)
    else:
        user = await session.scalar(select(User).where(func.lower(User.username) == q.lower()))
    if user is None:
        raise NotFound("No user has that username or e-mail address.")
    return user


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalize_email(email)))


async def is_verified(session: AsyncSession, user_id: str) -> bool:
    """Whether the user proved their e-mail address (a verification token or a
    password reset): what claiming anything addressed to that e-mail needs."""
    verified_at = await session.scalar(select(User.email_verified_at).where(User.id == user_id))
    return verified_at is not None


def unverified() -> AppError:
    """The answer when something needs a verified address the caller has not."""
    return AppError(
        403,
        "email_unverified",
        "Verify your e-mail address first: follow the e-mail we sent, or ask for another "
        "with POST /v1/users/me/email/verification.",
    )


async def update_user(session: AsyncSession, user: User, patch: UserPatch) -> User:
    for field in patch.model_fields_set:
        value = getattr(patch, field)
        if value is None and field != "display_name":
            raise AppError(422, "validation_error", f"{field} cannot be null.")
        setattr(user, field, value)
    await session.flush()
    return user


async def find_user(session: AsyncSession, who: str) -> User:
    """The user ``who`` names: a user id, username or email (404 else); for
    operators' commands, which name users any of these ways."""
    user = await session.scalar(
        select(User).where(
            (User.id == who) | (User.username == who) | (User.email == normalize_email(who))
        )
    )
    if user is None:
        raise NotFound(f"No user {who!r}.")
    return user


def _like_prefix(text: str) -> str:
    """``text`` as a LIKE prefix pattern, its wildcards escaped (with ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search_users(session: AsyncSession, query: str, limit: int) -> list[User]:
    """Users for an administrator: by exact id, or by the start of a username
    or e-mail (any case), usernames first in order. Users may look up others
    only by an exact name (``GET /v1/users/lookup``); this is not for them."""
    text = query.strip()
    if not text:
        return []
    pattern = _like_prefix(text.lower())
    found = await session.scalars(
        select(User)
        .where(
            or_(
                User.id == text,
                func.lower(User.username).like(pattern, escape="\\"),
                User.email.like(pattern, escape="\\"),
            )
        )
        .order_by(func.lower(User.username), User.id)
        .limit(limit)
    )
    return list(found)


async def set_admin(session: AsyncSession, who: str, admin: bool) -> User:
    """Grant or take site-admin rights; ``who`` is a user id, username or email."""
    user = await find_user(session, who)
    user.is_admin = admin
    await session.flush()
    return user


async def admin_ids(session: AsyncSession) -> list[str]:
    """The site admins with a live account (whom the service itself tells of
    what needs an operator, e.g. damaged images found by a scrub)."""
    query = select(User.id).where(User.is_admin, User.deleted_at.is_(None)).order_by(User.id)
    return list(await session.scalars(query))


async def set_suspension(session: AsyncSession, user: User, reason: str | None) -> None:
    """Suspend the user (``reason``) or lift the suspension (None). What that
    withholds is moderation's to do; here only the account's own state."""
    user.suspended_at = utcnow() if reason is not None else None
    user.suspension_reason = reason
    await session.flush()


async def plan_of(session: AsyncSession, user_id: str) -> str | None:
    """The user's storage plan (None for no such user)."""
    return await session.scalar(select(User.plan).where(User.id == user_id))


async def plans_of(session: AsyncSession, user_ids: Collection[str]) -> dict[str, str]:
    """The plans of the users among ``user_ids`` that exist, in one read."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.plan).where(User.id.in_(sorted(user_ids))))
    return {user_id: plan for user_id, plan in rows}


async def set_plan(session: AsyncSession, user_id: str, plan: str) -> bool:
    """Put the user on ``plan`` (flushed); False if there is no such user."""
    changed = await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(plan=plan)
        .execution_options(synchronize_session=False)
    )
    return getattr(changed, "rowcount", 0) == 1


# --- account deletion's grace period (accounts.deletion) -------------------------

# What a signed-in user whose deletion is scheduled may still do: read the
# account, see or cancel the deletion, and export their data.
_ALLOWED_PREFIXES = ("/v1/users/me/deletion", "/v1/users/me/export")


def allowed_while_scheduled(method: str, path: str) -> bool:
    if path == "/v1/users/me":
        return method in ("GET", "HEAD")
    return path.startswith(_ALLOWED_PREFIXES)


def pending_deletion_error() -> AppError:
    return AppError(
        403,
        "account_pending_deletion",
        "This account is scheduled for deletion: it can only cancel the deletion "
        "(DELETE /v1/users/me/deletion) or export its data until then.",
    )
