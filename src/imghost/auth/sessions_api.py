"""Routes for the caller's login sessions and API keys: the list, and ending them."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response, status

from imghost.audit import services as audit
from imghost.auth import services, sessions
from imghost.auth.last_use import LastUse
from imghost.auth.models import ApiKey, AuthSession
from imghost.auth.schemas import (
    ApiKeyUseOut,
    RevokedOut,
    RevokeOthersIn,
    SessionList,
    SessionOut,
)
from imghost.auth.services import Actor
from imghost.deps import Ctx, CurrentActor, Db

router = APIRouter(tags=["auth"])


def _is(actor: Actor, via: str, credential_id: str) -> bool:
    return actor.via == via and actor.credential_id == credential_id


def _last_use(
    uses: LastUse, via: str, row: AuthSession | ApiKey
) -> tuple[dt.datetime | None, str | None]:
    """The stored last use, or this process's later one not written yet."""
    noted = uses.noted(via, row.id)
    if noted is not None and (row.last_used_at is None or noted.at > row.last_used_at):
        return noted.at, noted.address
    return row.last_used_at, row.last_used_address


def _session_out(row: AuthSession, actor: Actor, uses: LastUse) -> SessionOut:
    last_at, last_address = _last_use(uses, "token", row)
    return SessionOut(
        session_id=row.id,
        created_at=row.created_at,
        created_address=row.created_address,
        user_agent=row.user_agent,
        last_used_at=last_at,
        last_used_address=last_address,
        current=_is(actor, "token", row.id),
    )


def _key_out(key: ApiKey, actor: Actor, uses: LastUse) -> ApiKeyUseOut:
    last_at, last_address = _last_use(uses, "api_key", key)
    return ApiKeyUseOut(
        key_id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        last_used_at=last_at,
        last_used_address=last_address,
        current=_is(actor, "api_key", key.id),
    )


@router.get("/v1/users/me/sessions", response_model=SessionList)
async def list_sessions(actor: CurrentActor, db: Db, ctx: Ctx) -> SessionList:
    """The caller's live login sessions and active API keys, with their last use."""
    live = await sessions.live_sessions(db, actor.user_id)
    keys = await services.list_api_keys(db, actor.user_id)
    return SessionList(
        sessions=[_session_out(row, actor, ctx.last_use) for row in live],
        api_keys=[_key_out(key, actor, ctx.last_use) for key in keys],
    )


@router.delete("/v1/users/me/sessions/{session_id}", status_code=204)
async def revoke_session(session_id: str, actor: CurrentActor, db: Db) -> Response:
    """End one session: its refresh token stops refreshing and its access tokens stop
    working at once (the caller's own session too: that is a logout)."""
    await sessions.revoke_one(db, actor.user_id, session_id)
    await audit.record(
        db, "session.revoked", actor_id=actor.user_id, target=("session", session_id)
    )
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/users/me/sessions/revoke-others", response_model=RevokedOut)
async def revoke_other_sessions(
    actor: CurrentActor, db: Db, body: RevokeOthersIn | None = None
) -> RevokedOut:
    """End every session but the caller's; with ``includeApiKeys``, revoke every API key
    but the one calling too."""
    keep_session = actor.credential_id if actor.via == "token" else None
    ended = await sessions.revoke_sessions(db, actor.user_id, "revoked", keep=keep_session)
    keys = 0
    if body is not None and body.include_api_keys:
        keep_key = actor.credential_id if actor.via == "api_key" else None
        keys = await sessions.revoke_api_keys(db, actor.user_id, keep=keep_key)
    await audit.record(
        db,
        "session.revoked",
        actor_id=actor.user_id,
        target=("user", actor.user_id),
        details={"others": True, "sessions": ended, "apiKeys": keys},
    )
    await db.commit()
    return RevokedOut(revoked_sessions=ended, revoked_api_keys=keys)
