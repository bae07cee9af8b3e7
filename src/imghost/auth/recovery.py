"""Changing a password, and resetting a forgotten one through an e-mailed token.

A new password, by either way, ends sessions: a change ends every session
but the caller's (whoever else was signed in, perhaps with the old password,
is signed out at once), a reset ends all of them. Both use up any reset
tokens still outstanding and tell the user (``account.password_changed``).
API keys are not sessions and stay: the session list shows them and ends
them on request.

A reset request answers the same whether or not an account has the address,
and does the same work: it queues one e-mail job with the address and a
fresh token id, and the job (``auth.services.account_email``) looks the
address up, out of the request, and sends nothing for an unknown one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts.models import User
from imghost.accounts.services import find_by_email, normalize_email
from imghost.audit import services as audit
from imghost.auth import onetime
from imghost.auth.passwords import hash_password, verify_password
from imghost.auth.sessions import revoke_sessions
from imghost.auth.strength import check_password_strength
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.ids import new_id
from imghost.notifications.services import notify, queue_account_email

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountMail:
    """An account e-mail ready to send: to whom, its subject line and text."""

    recipient: str
    title: str
    body: str


def _invalid_reset() -> AppError:
    return AppError(
        400,
        "invalid_reset_token",
        "This password-reset token is invalid, expired or already used; ask for a new one.",
    )


async def change_password(
    session: AsyncSession, user_id: str, keep_session: str | None, current: str, new: str
) -> None:
    """Set a new password after checking the current one (403 ``wrong_password``)
    and the new one's strength; every session but ``keep_session`` ends."""
    username, email = await confirm_password(session, user_id, current)
    await check_password_strength(new, username, email)
    password_hash = await hash_password(new)
    await _set_password(session, user_id, password_hash, keep_session, "password_changed")


async def confirm_password(session: AsyncSession, user_id: str, password: str) -> tuple[str, str]:
    """Check the signed-in user's password (403 ``wrong_password``) before a
    change that a stolen access token alone must not make; their username and
    e-mail. The session's transaction is ended: the check takes a CPU slot,
    and no pooled connection is held while it waits."""
    stored, username, email = (
        await session.execute(
            select(User.password_hash, User.username, User.email).where(User.id == user_id)
        )
    ).one()
    await session.rollback()
    if not await verify_password(stored, password):
        raise AppError(403, "wrong_password", "The current password is incorrect.")
    return str(username), str(email)


async def request_reset(session: AsyncSession, email: str, *, mail: bool) -> None:
    """Queue the reset e-mail job for ``email``, known or not (see the module doc);
    ``mail``: whether the server sends e-mail at all (else nothing is queued, for
    any address alike)."""
    if not mail:
        log.info("password-reset e-mail not queued: IMGHOST_SMTP_URL is unset")
        return
    queue_account_email(
        session,
        {
            "purpose": onetime.PASSWORD_RESET,
            "email": normalize_email(email),
            "tokenId": new_id(onetime.ID_PREFIX),
        },
    )


async def reset_mail(
    session: AsyncSession, secret: str, email: str, token_id: str, ttl: int, base_url: str
) -> AccountMail | None:
    """The reset e-mail for ``email`` (its token row made now), or None when no
    account has the address."""
    user = await find_by_email(session, email)
    if user is None:
        return None
    row = await onetime.issue(
        session,
        token_id=token_id,
        user_id=user.id,
        email=user.email,
        purpose=onetime.PASSWORD_RESET,
        ttl=ttl,
    )
    token = onetime.token_for(secret, row)
    minutes = max(ttl // 60, 1)
    return AccountMail(
        recipient=user.email,
        title="Reset your password",
        body=(
            f"Someone (we hope you) asked to reset the password of the imghost account "
            f"{user.username}.\n\n"
            f"To choose a new password, send\n"
            f"POST {base_url}/v1/auth/password-reset/confirm\n"
            f'{{"token": "{token}", "password": "<your new password>"}}\n\n'
            f"The token works once, for {minutes} minutes, and signs out every session of "
            f"the account. If you did not ask for it, ignore this e-mail: your password "
            f"stays as it is."
        ),
    )


async def reset_password(session: AsyncSession, secret: str, token: str, new: str) -> None:
    """Set a new password with a reset token (400 ``invalid_reset_token``); every
    session ends. The token proves the mailbox, so the address is verified too."""
    row = await onetime.find(session, secret, onetime.PASSWORD_RESET, token)
    if row is None:
        raise _invalid_reset()
    token_id, user_id, sent_to = row.id, row.user_id, row.email
    username, email = (
        await session.execute(select(User.username, User.email).where(User.id == user_id))
    ).one()
    await session.rollback()  # no connection held while the checks wait for a CPU slot
    await check_password_strength(new, username, email)
    password_hash = await hash_password(new)
    row = await onetime.find(session, secret, onetime.PASSWORD_RESET, token)
    if row is None or row.id != token_id or not await onetime.use(session, row):
        raise _invalid_reset()  # used by a concurrent request meanwhile
    user = await session.get(User, user_id)
    assert user is not None  # the token row cascades with the user
    if user.email_verified_at is None and user.email == sent_to:
        user.email_verified_at = utcnow()
    await _set_password(session, user_id, password_hash, None, "password_reset")


async def _set_password(
    session: AsyncSession, user_id: str, password_hash: str, keep: str | None, reason: str
) -> None:
    user = await session.get(User, user_id)
    assert user is not None
    user.password_hash = password_hash
    await session.flush()
    await revoke_sessions(session, user_id, reason, keep=keep)
    await onetime.retire(session, user_id, onetime.PASSWORD_RESET)
    how = "changed" if reason == "password_changed" else "reset with an e-mailed token"
    ended = "every other session was" if keep is not None else "every session was"
    await notify(
        session,
        user_id=user_id,
        kind="account.password_changed",
        title="Your password was changed",
        body=(
            f"The password of your imghost account was {how}, and {ended} signed out. "
            f"If this was not you, reset your password at once and review your API keys."
        ),
        data={"reason": reason},
    )
    await audit.record(
        session,
        "auth.password_changed",
        actor_id=user_id,
        target=("user", user_id),
        details={"how": "changed" if reason == "password_changed" else "reset"},
    )
