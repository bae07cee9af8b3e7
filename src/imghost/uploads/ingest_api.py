"""Route helpers: one file on local disk made an image, and the upload from a URL.

A multipart part and a fetched URL both have their bytes on local disk before
they know whether they fit: the owner's existing copy of the same bytes is
looked up first (answered instead, nothing stored, unless a copy is asked
for); otherwise the size is reserved (committed, visible to concurrent
requests) before the slow steps, and converted into the image's charge in the
image's commit, which also carries its ``image.uploaded`` event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.grants import caller_of_actor
from imghost.albums.uploads import with_album
from imghost.auth.services import Actor
from imghost.db import utcnow
from imghost.deps import Ctx
from imghost.ids import new_id
from imghost.images.fields import NewImageFields, check_visibility, normalize_tags
from imghost.images.models import Image
from imghost.quotas import services as quotas
from imghost.ratelimit import services as ratelimit
from imghost.tls.contexts import client_context
from imghost.uploads import fetch, services
from imghost.uploads.schemas import FinalizeIn, SourceUrlIn, UploadedImage
from imghost.uploads.slots import upload_slot
from imghost.uploads.spool import Received, Spool

log = logging.getLogger(__name__)


@asynccontextmanager
async def holding(ctx: Ctx, account_id: str, size: int) -> AsyncIterator[str]:
    """Reserve ``size`` bytes of the account's quota for one file of a direct
    upload, committed at once (so concurrent requests see it), released if
    the block fails; yields the reservation's id.

    Its own short transactions, in sessions of their own: the request's
    session may be in the middle of its transaction."""
    hold_id = new_id("qr")
    async with ctx.sessions() as session:
        await quotas.reserve(
            session,
            ctx.settings,
            account_id=account_id,
            size=size,
            reservation_id=hold_id,
            expires_at=utcnow() + quotas.DIRECT_RESERVATION_TTL,
        )
        await session.commit()
    try:
        yield hold_id
    except BaseException:
        # A converted reservation is gone already: releasing it is a no-op.
        try:
            async with ctx.sessions() as session:
                await quotas.release(session, [hold_id])
                await session.commit()
        except Exception:
            log.warning("could not release reservation %s; gc will", hold_id, exc_info=True)
        raise


async def charge(db: AsyncSession, ctx: Ctx, image: Image, hold_id: str) -> None:
    """Convert the reservation for ``image``, whose blob is stored and whose
    row is pending in ``db``. Charging flushes that row: if that (or anything
    here) fails, the blob goes at once, as when its commit fails."""
    try:
        await quotas.charge_image(db, ctx.settings, image, [hold_id])
    except BaseException:
        # Rolled back now rather than later: the release that follows (in
        # another session) must not wait on this one's locks.
        await db.rollback()
        await services.discard_blob(ctx.store, image.blob_key)
        raise


async def store_file(
    db: AsyncSession,
    ctx: Ctx,
    actor: Actor,
    fields: NewImageFields,
    spool: Received,
    filename: str | None,
    allow_duplicate: bool,
) -> UploadedImage:
    """One file on local disk (a multipart part, a fetched URL) made an image and
    committed; or the owner's existing image with the same bytes."""
    settings = ctx.settings
    base = settings.public_base_url
    if not allow_duplicate:
        existing = await services.find_duplicate(db, actor.user_id, fields.org_id, spool.sha256)
        if existing is not None:
            out = UploadedImage.of_image(existing, base, duplicate=True)
            await db.commit()  # the read's transaction: none is held across the next file
            return out
    # The file's size is held against the quota (committed) before it is
    # validated or stored; converted in the image's commit.
    account = quotas.account_of(actor.user_id, fields.org_id)
    async with holding(ctx, account, spool.size) as hold_id:
        image = await services.store_new_image(
            db, ctx.store, settings, actor.user_id, fields, spool, filename
        )
        await charge(db, ctx, image, hold_id)
        async with services.discarding_on_failure(db, ctx.store, image.blob_key):
            await services.announce_upload(db, image)
            await db.commit()
    return UploadedImage.of_image(image, base, duplicate=False)


def json_fields(body: FinalizeIn | SourceUrlIn, actor: Actor) -> NewImageFields:
    """The new image's fields from a JSON body, the account's defaults filling gaps."""
    return NewImageFields(
        title=body.title,
        description=body.description,
        tags=normalize_tags(body.tags),
        visibility=check_visibility(body.visibility or actor.default_visibility),
        keep_gps=actor.keep_gps if body.keep_gps is None else body.keep_gps,
        album_id=body.album_id,
    )


async def upload_from_url(
    request: Request, body: SourceUrlIn, actor: Actor, db: AsyncSession, ctx: Ctx
) -> JSONResponse:
    """Fetch ``sourceUrl`` and make it an image, answering when it is stored.

    Synchronous (201 after the fetch), not a job: the fetch is bounded by
    IMGHOST_FETCH_TIMEOUT and the file limit like any upload body, the caller
    learns at once whether the URL gave an image (and why not), and the image
    exists when the answer comes, as after every other upload. The fetch holds
    an upload slot, as a body being received does."""
    settings = ctx.settings
    fields = await with_album(db, caller_of_actor(actor), json_fields(body, actor))
    # End the album check's transaction: no pooled connection is held while
    # the file is fetched and checked.
    await db.commit()
    limits = fetch.FetchLimits(
        timeout=settings.fetch_timeout,
        max_redirects=settings.fetch_max_redirects,
        max_size=settings.max_file_size,
        allow_private=settings.fetch_allow_private,
        tls=client_context(settings.tls_ca_file),
    )
    spool = Spool(ctx.store.staging_dir, settings.max_file_size)
    try:
        with upload_slot(request, actor.user_id):
            name = await fetch.fetch(body.source_url, spool, limits)
        # The fetched bytes count against the upload byte budget as a body's would.
        await ratelimit.charge_upload_bytes(request, spool.size)
        out = await store_file(db, ctx, actor, fields, spool, name, body.allow_duplicate)
    finally:
        spool.cleanup()
    status = 200 if out.duplicate else 201
    return JSONResponse(out.model_dump(mode="json", by_alias=True), status_code=status)
