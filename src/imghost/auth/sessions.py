"""A user's login sessions and API keys: listing them with their last use, and ending them.

A session is live while it is not revoked and its newest refresh token has
not expired. Ending one revokes it: its refresh tokens stop refreshing and
its access tokens are refused at their next request (``authenticate`` reads
the session on every request), not at their expiry.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.auth.models import ApiKey, AuthSession, RefreshToken
from imghost.db import utcnow
from imghost.errors import NotFound


@dataclass(frozen=True)
class Revoked:
    sessions: int
    api_keys: int


async def live_sessions(session: AsyncSession, user_id: str) -> list[AuthSession]:
    """The user's live sessions, most recently used first."""
    newest = (
        select(func.max(RefreshToken.expires_at))
        .where(RefreshToken.session_id == AuthSession.id)
        .scalar_subquery()
    )
    rows = await session.scalars(
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            newest > utcnow(),
        )
        .order_by(
            func.coalesce(AuthSession.last_used_at, AuthSession.created_at).desc(),
            AuthSession.id,
        )
    )
    return list(rows)


async def revoke_one(session: AsyncSession, user_id: str, session_id: str) -> None:
    """End one of the user's sessions (the caller's own too: that is a logout);
    404 when it is not theirs or already ended."""
    result = await session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason="revoked")
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise NotFound("No such session: it may have ended already.")


async def revoke_sessions(
    session: AsyncSession, user_id: str, reason: str, *, keep: str | None = None
) -> int:
    """End every session of the user but ``keep``; how many were ended."""
    query = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    result = await session.execute(
        query.values(revoked_at=utcnow(), revoked_reason=reason).execution_options(
            synchronize_session=False
        )
    )
    return int(getattr(result, "rowcount", 0))


async def revoke_api_keys(session: AsyncSession, user_id: str, *, keep: str | None = None) -> int:
    """Revoke every API key of the user but ``keep``; how many were revoked."""
    query = update(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
    if keep is not None:
        query = query.where(ApiKey.id != keep)
    result = await session.execute(
        query.values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))
