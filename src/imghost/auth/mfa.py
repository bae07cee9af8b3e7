"""Two-factor sign-in: enrolling an authenticator app, recovery codes, and
the challenge a password sign-in answers with while the second factor is due.

A sign-in with the right password to an account with an enabled
authenticator starts a challenge instead of a session: the client gets a
short-lived token (``mfa_required``) and sends it back with a code
(``POST /v1/auth/mfa``). A challenge allows :data:`MAX_ATTEMPTS` codes, then
the password is needed again; every wrong code also counts in the login
throttle under the account's own key (``auth.api``), which a right password
does not clear, so guessing codes costs a password check per few guesses and
slows down to ``IMGHOST_LOGIN_MAX_DELAY`` per guess.

Codes: a TOTP code, accepted once (its time step is remembered), or a
recovery code, each good once. API keys and refresh tokens are not asked for
a second factor: they were made by a session that passed it (or by an
owner who chose a key for a script).

Functions that check a code return False on a wrong one rather than raise:
the attempt must be committed even though the request is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.audit import services as audit
from imghost.auth import totp
from imghost.auth.models import MfaChallenge, RecoveryCode, TotpFactor
from imghost.auth.tokens import MFA_TOKEN_PREFIX, hash_secret, new_secret
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.ids import new_id
from imghost.notifications.services import notify

MAX_ATTEMPTS = 5  # codes one challenge may try


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr: str


@dataclass(frozen=True)
class Status:
    enabled_at: dt.datetime | None
    recovery_codes_left: int


@dataclass(frozen=True)
class Challenge:
    """A password sign-in that waits for its second factor."""

    token: str
    expires_in: int
    user_id: str


@dataclass(frozen=True)
class Passed:
    """A challenge passed: who signed in, and from where (for their session)."""

    user_id: str
    address: str | None
    user_agent: str | None


def invalid_code() -> AppError:
    return AppError(
        401,
        "invalid_mfa_code",
        "The code is not right: use the current code from your authenticator app, or an "
        "unused recovery code.",
    )


def mfa_required(challenge: Challenge) -> AppError:
    return AppError(
        401,
        "mfa_required",
        "This account signs in with a second factor: send mfaToken with a code from your "
        "authenticator app (or a recovery code) to POST /v1/auth/mfa.",
        headers={"WWW-Authenticate": "Bearer"},
        mfaToken=challenge.token,
        expiresIn=challenge.expires_in,
    )


_CHANGES = {
    "enabled": ("Two-factor sign-in is on", "Signing in now asks for a code from your app."),
    "disabled": ("Two-factor sign-in was turned off", "Signing in asks for your password only."),
    "reset_by_admin": (
        "Two-factor sign-in was turned off by an administrator",
        "Signing in asks for your password only; enrol your app again.",
    ),
    "recovery_codes_renewed": (
        "New recovery codes were made",
        "Your previous recovery codes no longer work.",
    ),
    "recovery_code_used": (
        "A recovery code was used to sign in",
        "That code no longer works; make new ones when few are left.",
    ),
}


async def _tell(session: AsyncSession, user_id: str, change: str) -> None:
    """Tell the user of a change to their second factor (in-app, e-mail, webhooks):
    a change they did not make means someone else holds their password."""
    title, what = _CHANGES[change]
    await notify(
        session,
        user_id=user_id,
        kind="account.mfa_changed",
        title=title,
        body=f"{what} If this was not you, change your password at once and review your sessions.",
        data={"change": change},
    )
    # Last (callers tell last too): the chain's head is held from here to the commit.
    await audit.record(
        session,
        "auth.mfa_changed",
        # An administrator's reset is not the user's doing (the CLI's origin names it).
        actor_id=None if change == "reset_by_admin" else user_id,
        target=("user", user_id),
        details={"change": change},
    )


async def _factor(session: AsyncSession, user_id: str) -> TotpFactor | None:
    return await session.get(TotpFactor, user_id)


async def is_enabled(session: AsyncSession, user_id: str) -> bool:
    enabled = await session.scalar(
        select(TotpFactor.enabled_at).where(TotpFactor.user_id == user_id)
    )
    return enabled is not None


async def status(session: AsyncSession, user_id: str) -> Status:
    enabled = await session.scalar(
        select(TotpFactor.enabled_at).where(TotpFactor.user_id == user_id)
    )
    left = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return Status(enabled_at=enabled, recovery_codes_left=int(left or 0))


async def start_enrolment(
    session: AsyncSession, server_secret: str, user_id: str, account: str, issuer: str
) -> Enrolment:
    """A new secret for the user's authenticator app (409 when one is enabled
    already). Starting again replaces a secret that was never confirmed."""
    factor = await _factor(session, user_id)
    if factor is not None and factor.enabled_at is not None:
        raise AppError(
            409,
            "mfa_already_enabled",
            "Two-factor sign-in is on already; turn it off first to enrol another app.",
        )
    secret = totp.new_secret()
    sealed = totp.seal(server_secret, user_id, secret)
    if factor is None:
        session.add(TotpFactor(user_id=user_id, secret=sealed))
    else:
        factor.secret, factor.created_at, factor.last_step = sealed, utcnow(), None
    await session.flush()
    uri = totp.provisioning_uri(secret, account, issuer)
    return Enrolment(secret=secret, uri=uri, qr=totp.qr_data_uri(uri))


async def confirm_enrolment(
    session: AsyncSession, server_secret: str, user_id: str, code: str
) -> list[str] | None:
    """Turn two-factor sign-in on once ``code`` proves the app has the secret;
    the new recovery codes, or None when the code is wrong."""
    factor = await _factor(session, user_id)
    if factor is None or factor.enabled_at is not None:
        raise AppError(
            409,
            "mfa_not_pending",
            "There is no authenticator enrolment to confirm: start one with "
            "POST /v1/users/me/mfa/totp.",
        )
    if not await _use_totp(session, server_secret, factor, totp.normalize_code(code)):
        return None
    factor.enabled_at = utcnow()
    await session.flush()
    codes = await _replace_recovery_codes(session, user_id)
    await _tell(session, user_id, "enabled")
    return codes


async def disable(session: AsyncSession, server_secret: str, user_id: str, code: str) -> bool:
    """Turn two-factor sign-in off after a last code (TOTP or recovery); False
    when the code is wrong. 409 when it is not on."""
    factor = await _factor(session, user_id)
    if factor is None or factor.enabled_at is None:
        raise _not_enabled()
    if not await check_code(session, server_secret, user_id, code):
        return False
    await clear(session, user_id)
    await _tell(session, user_id, "disabled")
    return True


async def clear(session: AsyncSession, user_id: str) -> bool:
    """Remove the user's second factor, recovery codes and open challenges;
    whether there was one."""
    removed = await session.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id))
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    await session.execute(delete(MfaChallenge).where(MfaChallenge.user_id == user_id))
    return bool(getattr(removed, "rowcount", 0))


async def reset_by_admin(session: AsyncSession, user_id: str) -> bool:
    """The way back in for a user who lost both their app and their recovery
    codes (``imghost admin mfa-reset``); whether there was a second factor."""
    if not await clear(session, user_id):
        return False
    await _tell(session, user_id, "reset_by_admin")
    return True


def _not_enabled() -> AppError:
    return AppError(409, "mfa_not_enabled", "Two-factor sign-in is not on for this account.")


async def new_recovery_codes(session: AsyncSession, user_id: str) -> list[str]:
    """A fresh set of recovery codes (shown once); the old set stops working."""
    if not await is_enabled(session, user_id):
        raise _not_enabled()
    codes = await _replace_recovery_codes(session, user_id)
    await _tell(session, user_id, "recovery_codes_renewed")
    return codes


async def _replace_recovery_codes(session: AsyncSession, user_id: str) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = totp.new_recovery_codes()
    for code in codes:
        session.add(
            RecoveryCode(
                id=new_id("rc"),
                user_id=user_id,
                code_hash=hash_secret(totp.normalize_code(code)),
            )
        )
    await session.flush()
    return codes


async def check_code(session: AsyncSession, server_secret: str, user_id: str, code: str) -> bool:
    """Whether ``code`` is a fresh TOTP code or an unused recovery code of the
    user's; either is used up by passing."""
    factor = await _factor(session, user_id)
    if factor is None or factor.enabled_at is None:
        return False
    typed = totp.normalize_code(code)
    if totp.looks_like_totp(typed):
        return await _use_totp(session, server_secret, factor, typed)
    used = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == hash_secret(typed),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    if getattr(used, "rowcount", 0) != 1:
        return False
    await _tell(session, user_id, "recovery_code_used")
    return True


async def _use_totp(
    session: AsyncSession, server_secret: str, factor: TotpFactor, code: str
) -> bool:
    try:
        secret = totp.unseal(server_secret, factor.user_id, factor.secret)
    except ValueError:
        # The server secret changed since enrolment: no code can match.
        # Recovery codes still work (docs/OPERATIONS.md).
        return False
    step = totp.matching_step(secret, code, utcnow())
    if step is None:
        return False
    # A conditional update: a code (or an older one) that was accepted once
    # is refused, even when two requests present it at the same moment.
    accepted = await session.execute(
        update(TotpFactor)
        .where(
            TotpFactor.user_id == factor.user_id,
            (TotpFactor.last_step.is_(None)) | (TotpFactor.last_step < step),
        )
        .values(last_step=step)
        .execution_options(synchronize_session="fetch")
    )
    return getattr(accepted, "rowcount", 0) == 1


async def start_challenge(
    session: AsyncSession,
    user_id: str,
    ttl: int,
    *,
    address: str | None,
    user_agent: str | None,
) -> Challenge:
    """A challenge for a sign-in whose password was right."""
    now = utcnow()
    # The user's spent challenges go now: their number stays that of recent sign-ins.
    await session.execute(
        delete(MfaChallenge).where(
            MfaChallenge.user_id == user_id,
            (MfaChallenge.expires_at <= now) | MfaChallenge.used_at.is_not(None),
        )
    )
    token = new_secret(MFA_TOKEN_PREFIX)
    session.add(
        MfaChallenge(
            id=new_id("mfa"),
            user_id=user_id,
            token_hash=hash_secret(token),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl),
            address=address,
            user_agent=user_agent,
        )
    )
    await session.flush()
    return Challenge(token=token, expires_in=ttl, user_id=user_id)


def invalid_challenge() -> AppError:
    return AppError(
        401,
        "invalid_mfa_token",
        "The sign-in challenge is invalid, expired, used or out of attempts: sign in with "
        "your password again.",
    )


async def find_challenge(session: AsyncSession, token: str) -> MfaChallenge:
    """The open challenge ``token`` stands for (401 ``invalid_mfa_token`` else)."""
    if not token.startswith(MFA_TOKEN_PREFIX):
        raise invalid_challenge()
    row = await session.scalar(
        select(MfaChallenge).where(MfaChallenge.token_hash == hash_secret(token))
    )
    if (
        row is None
        or row.used_at is not None
        or row.expires_at <= utcnow()
        or row.attempts >= MAX_ATTEMPTS
    ):
        raise invalid_challenge()
    return row


async def answer_challenge(
    session: AsyncSession, server_secret: str, challenge: MfaChallenge, code: str
) -> Passed | None:
    """Try ``code`` on the challenge; who passed, or None for a wrong code.
    The attempt is counted first, with a conditional update, so concurrent
    guesses cannot exceed :data:`MAX_ATTEMPTS` (401 ``invalid_mfa_token`` once spent)."""
    counted = await session.execute(
        update(MfaChallenge)
        .where(
            MfaChallenge.id == challenge.id,
            MfaChallenge.used_at.is_(None),
            MfaChallenge.attempts < MAX_ATTEMPTS,
        )
        .values(attempts=MfaChallenge.attempts + 1)
    )
    if getattr(counted, "rowcount", 0) != 1:
        raise invalid_challenge()
    if not await check_code(session, server_secret, challenge.user_id, code):
        return None
    spent = await session.execute(
        update(MfaChallenge)
        .where(MfaChallenge.id == challenge.id, MfaChallenge.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if getattr(spent, "rowcount", 0) != 1:
        raise invalid_challenge()
    return Passed(challenge.user_id, challenge.address, challenge.user_agent)
