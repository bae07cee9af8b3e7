"""Authentication rules: login, refresh-token rotation, logout, API keys.

Refresh tokens rotate on every use. Each login starts a session (a token
family); presenting a refresh token that was already rotated means it was
copied, so the whole family is revoked, and the access tokens minted from it
stop working too because they carry the session id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts.models import User
from imghost.accounts.services import find_by_email
from imghost.audit import services as audit
from imghost.auth import mfa, onetime, recovery, sessions, verification
from imghost.auth.models import ApiKey, AuthSession, RefreshToken
from imghost.auth.passwords import hash_password, needs_rehash, verify_password
from imghost.auth.tokens import (
    API_KEY_PREFIX,
    REFRESH_PREFIX,
    InvalidToken,
    decode_access_token,
    hash_secret,
    issue_access_token,
    new_secret,
)
from imghost.db import utcnow
from imghost.errors import AppError, NotFound, Unauthorized
from imghost.ids import new_id
from imghost.settings import Settings

# What other features use of the account e-mail: the message shape.
AccountMail = recovery.AccountMail


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    # Whose tokens they are (not sent: what the route does next may need it).
    user_id: str
    # The session they belong to (not sent: the audit log names it).
    session_id: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who is calling: a user, and the credential they used."""

    user: User
    via: Literal["token", "api_key"]
    credential_id: str
    # Copied out of `user` when the actor is built: after a rollback the ORM
    # object is expired, and reading it would need I/O at an awkward moment.
    user_id: str
    default_visibility: str
    keep_gps: bool
    is_admin: bool = False
    email_verified: bool = False


@dataclass(frozen=True)
class TokenSettings:
    secret: str
    access_ttl: int
    refresh_ttl: int
    mfa_ttl: int  # seconds a sign-in challenge waits for its second factor


def _invalid_credentials() -> AppError:
    return AppError(
        401,
        "invalid_credentials",
        "The email or password is incorrect.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def account_suspended() -> AppError:
    return AppError(
        403,
        "account_suspended",
        "This account is suspended; contact the site's administrators.",
    )


def check_not_suspended(user: User) -> None:
    """A suspended account signs in nowhere and none of its credentials work:
    checked on every credential's own lookup, so a suspension bites at once."""
    if user.suspended_at is not None:
        raise account_suspended()


async def login(
    session: AsyncSession,
    cfg: TokenSettings,
    email: str,
    password: str,
    *,
    address: str | None = None,
    user_agent: str | None = None,
) -> TokenPair | mfa.Challenge:
    """A session for the right password; for an account with two-factor
    sign-in, a challenge that waits for the second factor instead."""
    found = await find_by_email(session, email)
    stored, user_id = (found.password_hash, found.id) if found else (None, None)
    # Nothing is written yet: end the read so the pooled connection is not
    # held while the check waits for a CPU slot (a flood of logins would
    # otherwise empty the database pool for every other request).
    await session.rollback()
    # verify_password runs a full argon2 check even without a user (timing).
    if not await verify_password(stored, password) or user_id is None:
        raise _invalid_credentials()
    user = await session.get(User, user_id)
    if user is None:  # deleted during the check
        raise _invalid_credentials()
    # Only after the right password: a wrong one must not learn of the suspension.
    check_not_suspended(user)
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
    address, user_agent = (
        (address[:64] if address else None),
        (user_agent[:200] if user_agent else None),
    )
    if await mfa.is_enabled(session, user.id):
        return await mfa.start_challenge(
            session, user.id, cfg.mfa_ttl, address=address, user_agent=user_agent
        )
    return await start_session(session, cfg, user.id, address=address, user_agent=user_agent)


async def start_session(
    session: AsyncSession,
    cfg: TokenSettings,
    user_id: str,
    *,
    address: str | None,
    user_agent: str | None,
) -> TokenPair:
    """A new session (a family of refresh tokens) for a user who has signed in."""
    user = await session.get(User, user_id)
    if user is not None:  # (a second factor answered after a suspension)
        check_not_suspended(user)
    auth_session = AuthSession(
        id=new_id("ses"), user_id=user_id, created_address=address, user_agent=user_agent
    )
    session.add(auth_session)
    await session.flush()
    return await _mint(session, cfg, user_id, auth_session.id)


async def _mint(
    session: AsyncSession, cfg: TokenSettings, user_id: str, session_id: str
) -> TokenPair:
    now = utcnow()
    refresh = new_secret(REFRESH_PREFIX)
    session.add(
        RefreshToken(
            id=new_id("rt"),
            session_id=session_id,
            token_hash=hash_secret(refresh),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=cfg.refresh_ttl),
        )
    )
    await session.flush()
    access = issue_access_token(cfg.secret, user_id, session_id, cfg.access_ttl, now)
    return TokenPair(access, refresh, cfg.access_ttl, user_id, session_id)


def _invalid_refresh() -> AppError:
    return AppError(
        401,
        "invalid_refresh_token",
        "The refresh token is invalid, expired or revoked.",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def refresh(session: AsyncSession, cfg: TokenSettings, token: str) -> TokenPair:
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_secret(token))
    )
    if row is None:
        raise _invalid_refresh()
    family = await session.get(AuthSession, row.session_id)
    if family is None or family.revoked_at is not None:
        raise _invalid_refresh()
    now = utcnow()
    if row.rotated_at is not None:
        # Re-use of a rotated token: someone else holds a copy. Kill the family.
        family.revoked_at = now
        family.revoked_reason = "refresh_reuse"
        await session.flush()
        await audit.record(
            session,
            "session.revoked",
            actor_kind="anonymous",
            target=("user", family.user_id),
            details={"reason": "refresh_reuse", "sessionId": family.id},
        )
        raise AppError(
            401,
            "refresh_token_reused",
            "This refresh token was already used; the session has been revoked. Log in again.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if row.expires_at <= now:
        raise _invalid_refresh()
    user = await session.get(User, family.user_id)
    if user is not None:
        check_not_suspended(user)
    # Rotate with a conditional update so two concurrent refreshes cannot both win.
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=now)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise _invalid_refresh()
    return await _mint(session, cfg, family.user_id, family.id)


async def logout(session: AsyncSession, token: str) -> None:
    """Revoke the session a refresh token belongs to; unknown tokens are ignored."""
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_secret(token))
    )
    if row is not None:
        await revoke_session(session, row.session_id, "logout")


async def revoke_session(session: AsyncSession, session_id: str, reason: str) -> None:
    family = await session.get(AuthSession, session_id)
    if family is not None and family.revoked_at is None:
        family.revoked_at = utcnow()
        family.revoked_reason = reason
        await session.flush()


async def authenticate(session: AsyncSession, secret: str, bearer: str) -> Actor:
    """Resolve a bearer credential (access token or API key) to an actor."""
    if bearer.startswith(API_KEY_PREFIX):
        key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_secret(bearer)))
        if key is None or key.revoked_at is not None:
            raise Unauthorized("The API key is invalid or revoked.", code="invalid_token")
        user = await session.get(User, key.user_id)
        if user is None:
            raise Unauthorized("The API key is invalid or revoked.", code="invalid_token")
        check_not_suspended(user)
        return Actor(
            user,
            "api_key",
            key.id,
            user.id,
            user.default_visibility,
            user.keep_gps,
            user.is_admin,
            user.email_verified_at is not None,
        )
    try:
        claims = decode_access_token(secret, bearer)
    except InvalidToken as exc:
        raise Unauthorized("The access token is invalid or expired.", code="invalid_token") from exc
    row = await session.execute(
        select(User, AuthSession.revoked_at)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(User.id == claims.user_id, AuthSession.id == claims.session_id)
    )
    found = row.first()
    if found is None or found[1] is not None:
        raise Unauthorized("The session has ended; log in again.", code="invalid_token")
    user = found[0]
    check_not_suspended(user)
    return Actor(
        user,
        "token",
        claims.session_id,
        user.id,
        user.default_visibility,
        user.keep_gps,
        user.is_admin,
        user.email_verified_at is not None,
    )


async def create_api_key(session: AsyncSession, user_id: str, name: str) -> tuple[ApiKey, str]:
    secret = new_secret(API_KEY_PREFIX)
    key = ApiKey(
        id=new_id("key"),
        user_id=user_id,
        name=name,
        prefix=secret[:12],
        key_hash=hash_secret(secret),
    )
    session.add(key)
    await session.flush()
    return key, secret


async def list_api_keys(session: AsyncSession, user_id: str) -> list[ApiKey]:
    rows = await session.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at)
    )
    return list(rows)


async def revoke_api_key(session: AsyncSession, user_id: str, key_id: str) -> None:
    key = await session.get(ApiKey, key_id)
    if key is None or key.user_id != user_id or key.revoked_at is not None:
        raise NotFound("No such API key.")
    key.revoked_at = utcnow()
    await session.flush()


# --- account e-mail (the notifications job sends what this returns) ------------------


async def account_email(
    session: AsyncSession, settings: Settings, payload: dict[str, Any]
) -> AccountMail | None:
    """The password-reset or verification e-mail a queued job stands for, its
    token row made now (flushed, not committed), or None when there is nothing
    to send (no account has the address, it is verified already, ...)."""
    purpose = payload.get("purpose")
    base = settings.public_base_url
    if purpose == onetime.PASSWORD_RESET:
        return await recovery.reset_mail(
            session,
            settings.secret_key,
            str(payload["email"]),
            str(payload["tokenId"]),
            settings.password_reset_ttl,
            base,
        )
    if purpose == onetime.VERIFY_EMAIL:
        return await verification.verify_mail(
            session,
            settings.secret_key,
            str(payload["userId"]),
            str(payload["email"]),
            str(payload["tokenId"]),
            settings.email_verification_ttl,
            base,
        )
    return None


async def send_verification(session: AsyncSession, user_id: str, email: str, *, mail: bool) -> None:
    """Queue the e-mail that lets the user verify ``email`` (at sign-up); ``mail``:
    whether the server sends e-mail at all."""
    await verification.send(session, user_id, email, mail=mail)


async def password_matches(password_hash: str, password: str) -> bool:
    """A password confirming a sensitive step (account deletion) by a signed-in user."""
    return await verify_password(password_hash, password)


async def end_all_credentials(session: AsyncSession, user_id: str, reason: str) -> None:
    """End every session (and so every access token minted from it) and every API
    key of ``user_id`` (flushed)."""
    await sessions.revoke_sessions(session, user_id, reason)
    await sessions.revoke_api_keys(session, user_id)
    await session.flush()
