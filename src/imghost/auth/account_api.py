"""Routes for a password change, a password reset and e-mail verification."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from imghost.auth import recovery, verification
from imghost.auth.schemas import (
    Accepted,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    VerifyEmailIn,
)
from imghost.deps import Ctx, CurrentActor, Db
from imghost.ratelimit.identity import client_address
from imghost.sharing import services as sharing

router = APIRouter(tags=["auth"])

_RESET_SENT = "If an account has this address, an e-mail with a password-reset token is on its way."


@router.post("/v1/users/me/password", status_code=204)
async def change_password(
    body: PasswordChangeIn, request: Request, actor: CurrentActor, db: Db, ctx: Ctx
) -> Response:
    """Set a new password; every other session (and its access tokens) ends at once."""
    keep = actor.credential_id if actor.via == "token" else None
    email = actor.user.email  # read before the service ends the transaction
    # Under the login throttle: a stolen token must not buy unthrottled
    # guesses at the password (a wrong one counts like a failed login).
    await ctx.logins.guard(
        email,
        client_address(request.scope),
        lambda: recovery.change_password(
            db, actor.user_id, keep, body.current_password, body.new_password
        ),
    )
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/auth/password-reset", status_code=202, response_model=Accepted)
async def request_password_reset(
    body: PasswordResetIn, request: Request, db: Db, ctx: Ctx
) -> Accepted:
    """E-mail a single-use reset token; the same answer whether or not the address has
    an account."""
    await ctx.logins.account_email(body.email, client_address(request.scope))
    await recovery.request_reset(db, body.email, mail=bool(ctx.settings.smtp_url))
    await db.commit()
    return Accepted(detail=_RESET_SENT)


@router.post("/v1/auth/password-reset/confirm", status_code=204)
async def confirm_password_reset(body: PasswordResetConfirmIn, db: Db, ctx: Ctx) -> Response:
    """Set a new password with a reset token; every session of the account ends."""
    await recovery.reset_password(db, ctx.settings.secret_key, body.token, body.password)
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/users/me/email/verification", status_code=202, response_model=Accepted)
async def send_verification(request: Request, actor: CurrentActor, db: Db, ctx: Ctx) -> Accepted:
    """E-mail a new verification token to the caller's address."""
    await ctx.logins.account_email(actor.user.email, client_address(request.scope))
    email = await verification.resend(db, actor.user_id, mail=bool(ctx.settings.smtp_url))
    await db.commit()
    return Accepted(detail=f"A verification e-mail is on its way to {email}.")


@router.post("/v1/auth/verify-email", status_code=204)
async def verify_email(body: VerifyEmailIn, db: Db, ctx: Ctx) -> Response:
    """Mark the address the token was sent to as verified."""
    user_id = await verification.verify(db, ctx.settings.secret_key, body.token)
    # What was shared with this address becomes the user's now it is proved.
    await sharing.claim_if_verified(db, user_id)
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
