"""Turning a request's credentials into a :class:`~imghost.access.grants.Caller`.

Three kinds, any combination: ``Authorization: Bearer`` (access token or API
key), ``?share=`` (the grant a resolved share link hands out) and a signed
URL (``?exp&perm&kid&sig``). Signatures are checked here; whether the link
behind a grant is still live is checked with the rest of the grants.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from imghost.access.grants import Caller
from imghost.access.policy import LINK_PERMISSIONS, Level, permission_level
from imghost.auth.services import Actor, authenticate
from imghost.errors import AppError, Unauthorized
from imghost.signing import BadSignature, SigningKeys, verify_link_grant, verify_url


@dataclass(frozen=True)
class CredentialKeys:
    """What checking a request's credentials needs, handed over by the composition root."""

    # Bearer tokens and API keys are looked up in a short session of their own.
    sessions: async_sessionmaker[AsyncSession]
    secret_key: str
    # Share grants and signed URLs.
    signing_keys: SigningKeys
    # Notes a bearer credential's use (its last use, in the session list).
    seen: Callable[[Actor, str], None] | None = None


def has_credentials(request: Request) -> bool:
    query = request.query_params
    return "authorization" in request.headers or "share" in query or "sig" in query


async def bearer_actor(
    request: Request, keys: CredentialKeys, *, ignore_invalid: bool = False
) -> Actor | None:
    """The user of the request's bearer credential; 401 ``invalid_token`` when it
    does not verify, unless ``ignore_invalid`` (then the request is anonymous)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    async with keys.sessions() as session:
        try:
            actor = await authenticate(session, keys.secret_key, token.strip())
        except Unauthorized:
            if ignore_invalid:
                return None
            raise
    if keys.seen is not None:
        keys.seen(actor, request.client.host if request.client else "unknown")
    return actor


def caller_of(request: Request, signing_keys: SigningKeys, actor: Actor | None) -> Caller:
    """The caller for this request given its (already authenticated) user, if any."""
    query = request.query_params
    now = time.time()
    link_id = None
    if token := query.get("share"):
        try:
            link_id = verify_link_grant(signing_keys, token, now)
        except BadSignature as exc:
            code = "share_token_expired" if exc.expired else "share_token_invalid"
            raise AppError(403, code, str(exc)) from None
    signed = Level.NONE
    signed_expires = None
    if "sig" in query:
        try:
            permissions = verify_url(signing_keys, request.url.path, query, now)
        except BadSignature as exc:
            code = "signature_expired" if exc.expired else "signature_invalid"
            raise AppError(403, code, str(exc)) from None
        signed = permission_level(permissions, LINK_PERMISSIONS)
        signed_expires = int(query["exp"])
    return Caller(
        user_id=actor.user_id if actor else None,
        admin=actor.is_admin if actor else False,
        link_id=link_id,
        signed=signed,
        signed_expires=signed_expires,
    )


async def resolve_caller(
    request: Request, keys: CredentialKeys, *, ignore_invalid_bearer: bool = False
) -> Caller:
    """For routes outside FastAPI's dependency system (delivery resolves lazily).

    ``ignore_invalid_bearer``: a bearer credential that does not verify makes the
    caller anonymous instead of a 401 (share grants and signatures are still
    checked: those were made for this very URL)."""
    actor = await bearer_actor(request, keys, ignore_invalid=ignore_invalid_bearer)
    return caller_of(request, keys.signing_keys, actor)
