"""Verifying an account's e-mail address with an e-mailed token.

Sent at sign-up and on request. Verifying sets ``users.email_verified_at``;
what needs a verified address asks ``accounts.services.is_verified``.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts.models import User
from imghost.auth import onetime
from imghost.auth.recovery import AccountMail
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.ids import new_id
from imghost.notifications.services import queue_account_email

log = logging.getLogger(__name__)


async def send(session: AsyncSession, user_id: str, email: str, *, mail: bool) -> None:
    """Queue the verification e-mail to the user's address; ``mail``: whether the
    server sends e-mail at all (without, no job is queued for every sign-up only
    to log that it cannot send)."""
    if not mail:
        log.info("verification e-mail not queued: IMGHOST_SMTP_URL is unset")
        return
    queue_account_email(
        session,
        {
            "purpose": onetime.VERIFY_EMAIL,
            "userId": user_id,
            "email": email,
            "tokenId": new_id(onetime.ID_PREFIX),
        },
    )


async def resend(session: AsyncSession, user_id: str, *, mail: bool) -> str:
    """Queue a new verification e-mail; 409 ``email_already_verified`` when there
    is nothing to verify. The address it goes to."""
    email, verified_at = (
        await session.execute(select(User.email, User.email_verified_at).where(User.id == user_id))
    ).one()
    if verified_at is not None:
        raise AppError(409, "email_already_verified", "Your e-mail address is verified already.")
    await send(session, user_id, email, mail=mail)
    return str(email)


async def verify_mail(
    session: AsyncSession,
    secret: str,
    user_id: str,
    email: str,
    token_id: str,
    ttl: int,
    base_url: str,
) -> AccountMail | None:
    """The verification e-mail (its token row made now), or None when the
    account is gone, has another address now, or is verified already."""
    user = await session.get(User, user_id)
    if user is None or user.email != email or user.email_verified_at is not None:
        return None
    row = await onetime.issue(
        session,
        token_id=token_id,
        user_id=user.id,
        email=user.email,
        purpose=onetime.VERIFY_EMAIL,
        ttl=ttl,
    )
    token = onetime.token_for(secret, row)
    hours = max(ttl // 3600, 1)
    return AccountMail(
        recipient=user.email,
        title="Verify your e-mail address",
        body=(
            f"Please confirm that {user.email} is the address of the imghost account "
            f"{user.username}: send\n"
            f"POST {base_url}/v1/auth/verify-email\n"
            f'{{"token": "{token}"}}\n\n'
            f"The token works once, for {hours} hour{'s' if hours != 1 else ''}. If you did "
            f"not sign up, ignore this e-mail."
        ),
    )


async def verify(session: AsyncSession, secret: str, token: str) -> str:
    """Mark the address verified (400 ``invalid_verification_token``); the user's id."""
    row = await onetime.find(session, secret, onetime.VERIFY_EMAIL, token)
    if row is None or not await onetime.use(session, row):
        raise AppError(
            400,
            "invalid_verification_token",
            "This verification token is invalid, expired or already used; ask for a new one.",
        )
    user = await session.get(User, row.user_id)
    assert user is not None  # the token row cascades with the user
    if user.email == row.email and user.email_verified_at is None:
        user.email_verified_at = utcnow()
        await session.flush()
    return user.id
