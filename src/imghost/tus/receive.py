"""Take in one PATCH body: stream it to the resumable store, checkpointing.

This runs for as long as the client sends (minutes for a big chunk), so it
commits its own short transactions instead of holding one open: a checkpoint
every few seconds or megabytes records the durable offset and renews the
lease. If the connection breaks, what arrived is made durable and recorded,
so HEAD reports it and the client resumes from there. With Upload-Checksum
nothing counts until the whole body matched, so there are no checkpoints.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from imghost.bodies import BodyTimeout
from imghost.context import AppContext
from imghost.storage.resumable import ResumableWriter
from imghost.tus import services
from imghost.uploads.models import Upload

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 5.0
CHECKPOINT_BYTES = 16 * 1024 * 1024
#: A body that sends nothing for this long is cut off (its bytes kept). Half
#: the lease, so a request that holds the lease always renews it in time and
#: a stalled client cannot keep others out, or outlive its lease and write
#: beside the request that took over.
IDLE_SECONDS = services.LEASE_SECONDS / 2


class Stalled(Exception):
    pass


async def _chunks(body: AsyncIterator[bytes], idle: float) -> AsyncIterator[bytes]:
    iterator = aiter(body)
    while True:
        with anyio.move_on_after(idle) as waited:
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                return
        if waited.cancelled_caught:
            raise Stalled
        yield chunk


@dataclass
class Received:
    offset: int
    #: The client sent more than it may (past Upload-Length or the size limit).
    overflowed: bool = False
    disconnected: bool = False
    #: The client stopped sending without closing the connection.
    stalled: bool = False
    #: Upload-Checksum did not match the body (nothing was kept).
    mismatched: bool = False


async def receive(
    ctx: AppContext,
    db: AsyncSession,
    upload: Upload,
    token: str,
    body: AsyncIterator[bytes],
    limit: int,
    checksum: tuple[str, bytes] | None,
) -> Received:
    """Append up to ``limit`` bytes of ``body``; returns the new durable offset."""
    upload_id, start = upload.id, upload.offset
    writer = await ctx.resumable.open(
        upload_id, start, upload.storage or {}, services.target_key(upload)
    )
    hasher, expected = (hashlib.new(checksum[0]), checksum[1]) if checksum else (None, b"")
    taken = 0
    overflowed = disconnected = stalled = False
    since_bytes, since_time = 0, time.monotonic()
    try:
        try:
            async for chunk in _chunks(body, IDLE_SECONDS):
                if taken + len(chunk) > limit:
                    chunk = chunk[: limit - taken]
                    overflowed = True
                if hasher is not None:
                    hasher.update(chunk)
                await writer.write(chunk)
                taken += len(chunk)
                since_bytes += len(chunk)
                if overflowed:
                    break
                if time.monotonic() - since_time >= CHECKPOINT_SECONDS or (
                    hasher is None and since_bytes >= CHECKPOINT_BYTES
                ):
                    if hasher is None:
                        offset, state = await writer.checkpoint()
                        await services.save_progress(
                            db, ctx.settings, upload_id, token, offset, state
                        )
                    else:
                        # Nothing counts before the whole body matched its
                        # checksum: only the lease is renewed.
                        await services.renew(db, upload_id, token)
                    await db.commit()
                    since_bytes, since_time = 0, time.monotonic()
        except ClientDisconnect:
            disconnected = True
        except (Stalled, BodyTimeout):
            # Too slow for the server's body limits (bodies.py) is stalled
            # too: what arrived is kept and the client resumes from HEAD.
            stalled = True
        cut = disconnected or stalled
        if hasher is not None and (cut or hasher.digest() != expected):
            # A checksum covers the whole body: a partial or wrong one keeps nothing.
            await writer.abandon()
            return Received(start, False, disconnected, stalled, mismatched=not cut)
        offset, state = await writer.close()
    except BaseException as exc:
        # Anything else (a store error, a lost lease, cancellation): keep what
        # is durable if we still can, then let the error answer.
        log.warning("tus PATCH on %s ended abnormally", upload_id, exc_info=True)
        lost = isinstance(exc, services.LeaseLost)
        await _record_quietly(ctx, db, upload_id, token, writer, keep=hasher is None, lost=lost)
        raise
    await services.save_progress(db, ctx.settings, upload_id, token, offset, state)
    await db.commit()
    return Received(offset, overflowed, disconnected, stalled)


async def _record_quietly(
    ctx: AppContext,
    db: AsyncSession,
    upload_id: str,
    token: str,
    writer: ResumableWriter,
    keep: bool,
    lost: bool = False,
) -> None:
    """After a failure: close the writer, record what is durable (unless the
    bytes were unverified against a checksum, then drop them). If the lease
    was lost, the upload is another request's: nothing more is written or
    truncated, the writer just lets go."""
    try:
        await db.rollback()
        if lost:
            await writer.drop()
            return
        if not keep:
            await writer.abandon()
            return
        try:
            offset, state = await writer.close()
        except Exception:
            offset, state = writer.durable()
        await services.save_progress(db, ctx.settings, upload_id, token, offset, state)
        await db.commit()
    except Exception:
        log.warning("could not record progress of %s", upload_id, exc_info=True)
