"""FastAPI dependencies shared by every router: context, sessions, caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.credentials import caller_of
from imghost.access.grants import Caller
from imghost.access.policy import Level
from imghost.accounts import services as accounts
from imghost.auth.services import Actor, authenticate
from imghost.context import AppContext
from imghost.errors import Forbidden, Unauthorized
from imghost.reads import FastReader, SessionReader
from imghost.replicas.middleware import note_writer


async def get_ctx(request: Request) -> AppContext:
    # async: a plain def dependency would cost a thread hand-off per request.
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


async def get_db(ctx: Ctx) -> AsyncIterator[AsyncSession]:
    """A session per request. Handlers commit explicitly before answering;
    anything not committed is rolled back here.

    A session takes a pooled connection at its first statement and keeps it
    until the transaction ends: routes that read a body themselves (uploads)
    read it before their first statement, or end the transaction first, so a
    slow body never holds a connection (issue 14)."""
    async with ctx.sessions() as session:
        try:
            yield session
        finally:
            await session.rollback()


Db = Annotated[AsyncSession, Depends(get_db)]

# auto_error=False: anonymous callers are allowed on many routes; the
# dependencies below decide. tokenUrl makes the docs' Authorize button work.
_bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


def _address(request: Request) -> str:
    # The peer uvicorn settled on (a trusted proxy's X-Forwarded-For applied).
    return request.client.host if request.client else "unknown"


async def optional_actor(
    request: Request, ctx: Ctx, db: Db, token: Annotated[str | None, Depends(_bearer)]
) -> Actor | None:
    if not token:
        return None
    # In the request's session: FastAPI has read a declared body (JSON) before
    # the dependencies run, so no body is streaming while the connection is
    # held. Routes that read their own body use :data:`UploadActor` instead.
    actor = _in_grace_check(request, await authenticate(db, ctx.settings.secret_key, token))
    ctx.last_use.seen(actor, _address(request))
    note_writer(request.scope, actor.user_id)
    return actor


def _in_grace_check(request: Request, actor: Actor) -> Actor:
    """An account whose deletion is scheduled signs in only to cancel it or to
    export its data (``accounts.deletion``)."""
    if actor.user.delete_after is not None and not accounts.allowed_while_scheduled(
        request.method, request.url.path
    ):
        raise accounts.pending_deletion_error()
    return actor


async def upload_actor(
    request: Request, ctx: Ctx, db: Db, token: Annotated[str | None, Depends(_bearer)]
) -> Actor:
    """The caller of a route that streams its own body (uploads), which must be
    signed in.

    Authenticated in a short session of its own, closed before the route runs:
    in the request's session the SELECT would hold a pooled connection while the
    body streams in, and slow bodies would empty the pool. Other routes do not
    pay for the second checkout (:func:`optional_actor`)."""
    if not token:
        raise _sign_in()
    async with ctx.sessions() as auth:
        actor = _in_grace_check(request, await authenticate(auth, ctx.settings.secret_key, token))
    if ctx.settings.require_verified_email and not actor.email_verified:
        raise accounts.unverified()
    ctx.last_use.seen(actor, _address(request))
    note_writer(request.scope, actor.user_id)
    # Attached to the request's session (no I/O), as if read there.
    db.add(actor.user)
    return actor


def _sign_in() -> Unauthorized:
    return Unauthorized("Sign in first: send `Authorization: Bearer <token or API key>`.")


async def require_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    if actor is None:
        raise _sign_in()
    return actor


async def require_uploader(ctx: Ctx, actor: Annotated[Actor, Depends(require_actor)]) -> Actor:
    """The caller of a route that starts an upload without streaming it
    (presigned): signed in, with a verified address where the server asks for one."""
    if ctx.settings.require_verified_email and not actor.email_verified:
        raise accounts.unverified()
    return actor


async def require_site_admin(actor: Annotated[Actor, Depends(require_actor)]) -> Actor:
    """The caller of an admin route (``/v1/admin/…``): a site administrator."""
    if not actor.is_admin:
        raise Forbidden("Only site administrators may use the admin service.")
    return actor


MaybeActor = Annotated[Actor | None, Depends(optional_actor)]
CurrentActor = Annotated[Actor, Depends(require_actor)]
UploadActor = Annotated[Actor, Depends(upload_actor)]
Uploader = Annotated[Actor, Depends(require_uploader)]
SiteAdmin = Annotated[Actor, Depends(require_site_admin)]


async def get_caller(request: Request, ctx: Ctx, actor: MaybeActor) -> Caller:
    """The signed-in user (if any) plus a share-link grant passed as ``?share=``."""
    return caller_of(request, ctx.signing_keys, actor)


Who = Annotated[Caller, Depends(get_caller)]


async def get_reader(db: Db) -> FastReader:
    """Policy reads through the request's own session (sees its uncommitted writes)."""
    return SessionReader(db)


Reads = Annotated[FastReader, Depends(get_reader)]


async def get_read_db(ctx: Ctx, db: Db, caller: Who) -> AsyncIterator[AsyncSession]:
    """A session for a read-only route: a replica's when one may serve this
    caller now, else the request's own session on the primary (no second
    connection then). Never written through.

    On the primary: callers holding a share-link grant or a signed URL (a
    revoked link or an expired signature is decided there, at once) and
    signed-in callers who wrote within IMGHOST_REPLICA_STICKY_SECONDS, or
    whose writes cannot be known (no Redis, or Redis failing). A replica that
    is lost or lagging is skipped (``replicas.pool``). Routes decide access to
    one named resource (an album, an image) through ``Db`` and list or count
    through this; docs/OPERATIONS.md lists them."""
    replica = await _replica_session(ctx, caller)
    if replica is None:
        yield db
        return
    async with replica:  # closing it rolls back and returns the connection
        yield replica


async def _replica_session(ctx: AppContext, caller: Caller) -> AsyncSession | None:
    if ctx.replicas is None or caller.link_id is not None or caller.signed != Level.NONE:
        return None
    user = caller.user_id
    if user is not None and (ctx.sticky is None or await ctx.sticky.holds(user)):
        return None
    return await ctx.replicas.session()


ReadDb = Annotated[AsyncSession, Depends(get_read_db)]
