"""Routes for the caller's second factor: enrol an authenticator app, turn it
off, and renew recovery codes.

What would let a stolen access token lock the owner out (enrolling an app of
the thief's, turning the second factor off, reading fresh recovery codes)
asks for the password too, under the login throttle like a password change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import APIRouter, Request, Response, status

from imghost.auth import mfa, recovery
from imghost.auth.schemas import (
    CodeIn,
    MfaDisableIn,
    MfaStatusOut,
    PasswordIn,
    RecoveryCodesOut,
    TotpEnrolmentOut,
)
from imghost.deps import Ctx, CurrentActor, Db
from imghost.ratelimit.identity import client_address

router = APIRouter(tags=["auth"])
T = TypeVar("T")


async def _with_password(
    request: Request, actor: CurrentActor, db: Db, ctx: Ctx, password: str
) -> None:
    """Check the caller's password, counted like a login (403 ``wrong_password``)."""
    await ctx.logins.guard(
        actor.user.email,
        client_address(request.scope),
        lambda: recovery.confirm_password(db, actor.user_id, password),
    )


async def _with_code(
    request: Request, actor: CurrentActor, db: Db, ctx: Ctx, check: Callable[[], Awaitable[T]]
) -> T:
    """Run ``check`` (None or False: the code was wrong) under the second
    factor's throttle key; a wrong code is committed (a used-up recovery code
    or step stays used) and answered 401 ``invalid_mfa_code``."""

    async def attempt() -> T:
        result = await check()
        if result is None or result is False:
            await db.commit()
            raise mfa.invalid_code()
        return result

    return await ctx.logins.guard(f"mfa:{actor.user_id}", client_address(request.scope), attempt)


@router.get("/v1/users/me/mfa", response_model=MfaStatusOut)
async def mfa_status(actor: CurrentActor, db: Db) -> MfaStatusOut:
    """Whether two-factor sign-in is on, and how many recovery codes are left."""
    found = await mfa.status(db, actor.user_id)
    return MfaStatusOut(
        totp_enabled=found.enabled_at is not None,
        enabled_at=found.enabled_at,
        recovery_codes_left=found.recovery_codes_left,
    )


@router.post("/v1/users/me/mfa/totp", status_code=201, response_model=TotpEnrolmentOut)
async def enrol_totp(
    body: PasswordIn, request: Request, actor: CurrentActor, db: Db, ctx: Ctx
) -> TotpEnrolmentOut:
    """Start enrolling an authenticator app: scan the QR code (or type the
    secret), then confirm with a code. Nothing changes at sign-in until then."""
    email = actor.user.email  # read before the password check ends the transaction
    await _with_password(request, actor, db, ctx, body.password)
    enrolment = await mfa.start_enrolment(
        db, ctx.settings.secret_key, actor.user_id, email, ctx.settings.mfa_issuer
    )
    await db.commit()
    return TotpEnrolmentOut(
        secret=enrolment.secret, otpauth_uri=enrolment.uri, qr_code=enrolment.qr
    )


@router.post("/v1/users/me/mfa/totp/confirm", response_model=RecoveryCodesOut)
async def confirm_totp(
    body: CodeIn, request: Request, actor: CurrentActor, db: Db, ctx: Ctx
) -> RecoveryCodesOut:
    """Turn two-factor sign-in on with a first code from the app; the answer
    holds the recovery codes, shown this once."""
    codes = await _with_code(
        request,
        actor,
        db,
        ctx,
        lambda: mfa.confirm_enrolment(db, ctx.settings.secret_key, actor.user_id, body.code),
    )
    await db.commit()
    return RecoveryCodesOut(recovery_codes=codes)


@router.post("/v1/users/me/mfa/disable", status_code=204)
async def disable_mfa(
    body: MfaDisableIn, request: Request, actor: CurrentActor, db: Db, ctx: Ctx
) -> Response:
    """Turn two-factor sign-in off: the password and a code (or a recovery code)."""
    await _with_password(request, actor, db, ctx, body.password)
    await _with_code(
        request,
        actor,
        db,
        ctx,
        lambda: mfa.disable(db, ctx.settings.secret_key, actor.user_id, body.code),
    )
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/users/me/mfa/recovery-codes", response_model=RecoveryCodesOut)
async def renew_recovery_codes(
    body: PasswordIn, request: Request, actor: CurrentActor, db: Db, ctx: Ctx
) -> RecoveryCodesOut:
    """A new set of recovery codes (shown this once); the old ones stop working."""
    await _with_password(request, actor, db, ctx, body.password)
    codes = await mfa.new_recovery_codes(db, actor.user_id)
    await db.commit()
    return RecoveryCodesOut(recovery_codes=codes)
