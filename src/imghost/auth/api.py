"""Routes for /v1/auth/* and the caller's API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status

from imghost.accounts import services as accounts
from imghost.accounts.schemas import SignupIn, SignupOut
from imghost.audit import services as audit
from imghost.auth import mfa, services
from imghost.auth.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    LoginIn,
    MfaIn,
    OAuth2TokenOut,
    RefreshIn,
    TokenOut,
)
from imghost.auth.services import TokenPair
from imghost.deps import Ctx, CurrentActor, Db
from imghost.errors import AppError
from imghost.ratelimit.identity import client_address
from imghost.schemas import StorableStr
from imghost.sharing import services as sharing

router = APIRouter(tags=["auth"])


@router.post("/v1/auth/signup", status_code=201, response_model=SignupOut)
async def signup(body: SignupIn, request: Request, db: Db, ctx: Ctx) -> SignupOut:
    await ctx.logins.signup(client_address(request.scope))  # before any hashing
    user = await accounts.create_user(db, body.username, body.email, body.password)
    await services.send_verification(db, user.id, user.email, mail=bool(ctx.settings.smtp_url))
    await db.commit()
    return SignupOut(
        user_id=user.id, username=user.username, email=user.email, created_at=user.created_at
    )


def _where(request: Request) -> dict[str, str | None]:
    """What a new session records of its sign-in: the address and the client's name."""
    return {
        "address": client_address(request.scope),
        "user_agent": request.headers.get("user-agent"),
    }


async def _sign_in(
    request: Request, db: Db, ctx: Ctx, email: str, password: str, code: str | None
) -> tuple[TokenPair, str]:
    """A password sign-in, and its second factor when the account has one; the
    session, and how it signed in (``password``, ``mfa``)."""
    try:
        outcome = await ctx.logins.guard(
            email,
            client_address(request.scope),
            lambda: services.login(db, ctx.tokens, email, password, **_where(request)),
        )
    except AppError as exc:
        if exc.code == "invalid_credentials":
            await _login_failed(db, email)
        raise
    if isinstance(outcome, mfa.Challenge):
        await db.commit()  # the challenge must outlive this answer
        if code is None:
            raise mfa.mfa_required(outcome)
        return await _pass_challenge(request, db, ctx, outcome.token, code)
    return outcome, "password"


async def _login_failed(db: Db, email: str) -> None:
    """Audit a wrong password, in a transaction of its own (nothing else of the
    refused request is written): aggregated per (account, address)."""
    await db.rollback()
    account = accounts.normalize_email(email)
    user = await accounts.find_by_email(db, account)
    await audit.login_failed(
        db, user_id=user.id if user else None, account=account, stage="password"
    )
    await db.commit()


async def _signed_in(db: Db, pair: TokenPair, method: str) -> None:
    """What follows a sign-in in the transaction that starts its session: shares
    to a verified address claimed, then the audit event (the chain's head is
    taken last: no row lock is waited for while holding it); committed."""
    await sharing.claim_if_verified(db, pair.user_id)
    await audit.login_succeeded(db, user_id=pair.user_id, method=method, session_id=pair.session_id)
    await db.commit()


async def _pass_challenge(
    request: Request, db: Db, ctx: Ctx, token: str, code: str
) -> tuple[TokenPair, str]:
    challenge = await mfa.find_challenge(db, token)

    async def attempt() -> TokenPair:
        passed = await mfa.answer_challenge(db, ctx.settings.secret_key, challenge, code)
        if passed is None:
            await audit.login_failed(db, user_id=challenge.user_id, account="", stage="mfa")
            await db.commit()  # the attempt counts although the code is refused
            raise mfa.invalid_code()
        return await services.start_session(
            db, ctx.tokens, passed.user_id, address=passed.address, user_agent=passed.user_agent
        )

    # Wrong codes count under the account's own throttle key, which a right
    # password does not clear: guessing codes cannot be reset by signing in again.
    pair = await ctx.logins.guard(
        f"mfa:{challenge.user_id}", client_address(request.scope), attempt
    )
    return pair, "mfa"


def _answer(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/v1/auth/login",
    response_model=TokenOut,
    responses={401: {"description": "invalid_credentials, mfa_required, invalid_mfa_code"}},
)
async def login(body: LoginIn, request: Request, db: Db, ctx: Ctx) -> TokenOut:
    """Sign in with e-mail and password. An account with two-factor sign-in
    answers 401 ``mfa_required`` with an ``mfaToken`` for ``POST /v1/auth/mfa``,
    unless ``mfaCode`` came along."""
    pair, method = await _sign_in(request, db, ctx, body.email, body.password, body.mfa_code)
    await _signed_in(db, pair, method)
    return _answer(pair)


@router.post("/v1/auth/mfa", response_model=TokenOut)
async def second_factor(body: MfaIn, request: Request, db: Db, ctx: Ctx) -> TokenOut:
    """The second step of a two-factor sign-in: the challenge's token and a code
    from the authenticator app (or a recovery code)."""
    pair, method = await _pass_challenge(request, db, ctx, body.mfa_token, body.code)
    await _signed_in(db, pair, method)
    return _answer(pair)


@router.post("/v1/auth/token", response_model=OAuth2TokenOut, response_model_by_alias=True)
async def oauth2_token(
    request: Request,
    db: Db,
    ctx: Ctx,
    username: Annotated[
        StorableStr, Form(description="Your email (or username field of the form)")
    ],
    password: Annotated[StorableStr, Form()],
    grant_type: Annotated[str, Form(pattern="^password$")] = "password",
) -> OAuth2TokenOut:
    """OAuth2 password grant (form encoded), so the docs' Authorize button works.
    An account with two-factor sign-in answers 401 ``mfa_required`` here too."""
    pair, method = await _sign_in(request, db, ctx, username, password, None)
    await _signed_in(db, pair, method)
    return OAuth2TokenOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/v1/auth/refresh", response_model=TokenOut)
async def refresh(body: RefreshIn, db: Db, ctx: Ctx) -> TokenOut:
    try:
        pair = await services.refresh(db, ctx.tokens, body.refresh_token)
    except AppError:
        # Re-use detection revokes the family: that must stick even though we refuse.
        await db.commit()
        raise
    # A session lasts through refreshes: shares to its verified address arrive here too.
    await sharing.claim_if_verified(db, pair.user_id)
    await db.commit()
    return _answer(pair)


@router.post("/v1/auth/logout", status_code=204)
async def logout(body: RefreshIn, db: Db) -> Response:
    await services.logout(db, body.refresh_token)
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _key_out(key: object) -> ApiKeyOut:
    from imghost.auth.models import ApiKey

    assert isinstance(key, ApiKey)
    return ApiKeyOut(
        key_id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        last_used_address=key.last_used_address,
    )


@router.post("/v1/users/me/api-keys", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(body: ApiKeyIn, actor: CurrentActor, db: Db) -> ApiKeyCreated:
    key, secret = await services.create_api_key(db, actor.user_id, body.name)
    await audit.record(
        db,
        "apikey.created",
        actor_id=actor.user_id,
        target=("apikey", key.id),
        details={"name": key.name, "prefix": key.prefix},
    )
    await db.commit()
    return ApiKeyCreated(**_key_out(key).model_dump(), key=secret)


@router.get("/v1/users/me/api-keys", response_model=list[ApiKeyOut])
async def list_api_keys(actor: CurrentActor, db: Db) -> list[ApiKeyOut]:
    return [_key_out(k) for k in await services.list_api_keys(db, actor.user_id)]


@router.delete("/v1/users/me/api-keys/{key_id}", status_code=204)
async def revoke_api_key(key_id: str, actor: CurrentActor, db: Db) -> Response:
    await services.revoke_api_key(db, actor.user_id, key_id)
    await audit.record(db, "apikey.revoked", actor_id=actor.user_id, target=("apikey", key_id))
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
