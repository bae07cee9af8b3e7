"""E-mailed one-time account tokens: password resets and e-mail verifications.

A token is ``<row id>.<mac>``: the MAC is HMAC-SHA256 under the server
secret over the row's id, purpose, user and address (``signing.ACCOUNT_TOKEN``).
Nothing secret is stored: a leaked table or job payload holds no working
token, and the e-mail job rebuilds the token from the row id alone. The row
says whether the token was used and when it expires; it is used up with one
conditional UPDATE, so two requests presenting it at once cannot both win.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.auth.models import AccountToken
from imghost.db import utcnow
from imghost.signing import ACCOUNT_TOKEN, SigningKeys, sign, verify

PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose's name, not a secret
VERIFY_EMAIL = "verify_email"
ID_PREFIX = "atk"
_MAX_TOKEN = 200


def _fields(row: AccountToken) -> tuple[str, ...]:
    return (row.id, row.purpose, row.user_id, row.email)


def token_for(secret: str, row: AccountToken) -> str:
    """The token the row stands for (the same every time: a retried e-mail job
    sends the same token)."""
    _, mac = sign(SigningKeys.single(secret), ACCOUNT_TOKEN, *_fields(row))
    return f"{row.id}.{mac}"


async def issue(
    session: AsyncSession, *, token_id: str, user_id: str, email: str, purpose: str, ttl: int
) -> AccountToken:
    """The token row ``token_id``, made now if it does not exist yet (a job
    that runs again finds the row its first run made)."""
    existing = await session.get(AccountToken, token_id)
    if existing is not None:
        return existing
    now = utcnow()
    row = AccountToken(
        id=token_id,
        user_id=user_id,
        purpose=purpose,
        email=email,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl),
    )
    session.add(row)
    await session.flush()
    return row


async def find(session: AsyncSession, secret: str, purpose: str, token: str) -> AccountToken | None:
    """The unused, unexpired row ``token`` stands for, or None (malformed,
    forged, for another purpose, used or expired: one answer for all)."""
    token_id, _, mac = token.strip().partition(".")
    if not mac or len(token) > _MAX_TOKEN or not token_id.startswith(f"{ID_PREFIX}_"):
        return None
    row = await session.get(AccountToken, token_id)
    if row is None or row.purpose != purpose:
        return None
    if not verify(SigningKeys.single(secret), ACCOUNT_TOKEN, "k0", mac, *_fields(row)):
        return None
    if row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


async def use(session: AsyncSession, row: AccountToken) -> bool:
    """Use the token up; False when another request used it first."""
    result = await session.execute(
        update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def retire(session: AsyncSession, user_id: str, purpose: str) -> None:
    """Use up every outstanding token of the user for ``purpose`` (a new password
    ends the reset links sent before it)."""
    await session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
