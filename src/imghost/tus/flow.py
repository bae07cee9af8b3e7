"""What each tus request does under the upload's lease: the transaction owner.

The routes (``tus.api``) speak the protocol and call these; the steps are
services that flush (``leases``, ``services``, ``receive``, ``finish``,
``quotas``). This module alone commits, and it commits between steps, not
once at the end, because other processes must see each of them:

- a lease is committed as soon as it is taken, before any byte streams or
  any long step runs, so a request on the same upload elsewhere waits (423);
- while a body streams or a whole upload is assembled and validated, each
  checkpoint and lease renewal commits in a short transaction, and no
  transaction is left open across the slow parts (no pooled connection
  is held meanwhile);
- whatever ends the request, the lease is given up in a commit of its own.

Finishing: success commits the image row, its processing job and the
upload's ``completed`` status together, then the upload's own bytes are
removed. A 4xx marks the upload ``failed`` with the code, and every byte of
it is removed. A 5xx (e.g. no memory to decode right now) or a 429 (the
caller's validation queue is full) leaves the upload whole and pending: the
client's next PATCH at the final offset retries.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.auth.services import Actor
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.images.models import Image
from imghost.quotas import services as quotas
from imghost.settings import Settings
from imghost.storage import BlobStore
from imghost.storage.resumable import Piece, ResumableStore, ResumableWriter, State
from imghost.tus import finish, leases, services
from imghost.tus.leases import LeaseLost
from imghost.tus.receive import Pace, Received, receive
from imghost.uploads import services as uploads
from imghost.uploads.models import Upload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TusDeps:
    """What the tus steps need from the running app (built by the routes)."""

    settings: Settings
    store: BlobStore
    #: Where uploads keep their bytes until they are whole.
    resumable: ResumableStore


@dataclass
class Body:
    """One PATCH body (or a creation-with-upload's) and what came with it."""

    offset: int
    chunks: AsyncIterator[bytes]
    #: Its Content-Length, if declared.
    declared: int | None
    #: Upload-Checksum: (algorithm, digest).
    checksum: tuple[str, bytes] | None
    #: Upload-Length sent with it (a deferred length being set).
    length: int | None
    #: This body's upload slot, held only while it streams in (not through
    #: the validation that may follow).
    slot: contextlib.AbstractContextManager[object]


async def append(
    db: AsyncSession, deps: TusDeps, actor: Actor, upload_id: str, body: Body
) -> Upload:
    """Receive one body under the upload's lease; finish the upload if it is whole."""
    offset = body.offset
    upload = await services.owned(db, upload_id, actor)
    if leases.already_done(upload, offset):
        return upload
    if upload.concat == "final":
        if upload.status != "pending" or offset != upload.offset:
            raise AppError(403, "upload_is_final", "A concatenated upload cannot be patched.")
        # Its assembly failed for want of resources (5xx): an empty PATCH retries.
        return await complete(db, deps, actor, upload_id)
    token = await leases.acquire(db, deps.settings, upload_id)
    await db.commit()
    async with _given_back_on_failure(db, upload_id, token):
        # Fresh, now that the upload is ours: another request may have
        # finished or ended it since it was read above.
        upload = await services.owned(db, upload_id, actor)
        if leases.already_done(upload, offset):
            await leases.release(db, upload_id, token)
            await db.commit()
            return upload
        if upload.status != "pending" or offset != upload.offset:
            raise AppError(
                409,
                "offset_mismatch",
                f"Upload-Offset is {offset} but the upload is at {upload.offset}; "
                "ask HEAD for the offset and resume from there.",
                headers={"Upload-Offset": str(upload.offset)},
            )
        settings = deps.settings
        if body.length is not None:
            services.set_length(upload, body.length, settings)
            await leases.save_progress(
                db,
                settings,
                upload_id,
                token,
                upload.offset,
                upload.storage or {},
                size=body.length,
            )
            await db.commit()
        size = upload.size
        limit = (size if size is not None else settings.max_file_size) - upload.offset
        if body.declared is not None and body.declared > limit:
            raise services.too_long(upload, settings)
        # End the read transaction: no pooled connection is held while the
        # body streams in (checkpoints commit in short ones).
        await db.commit()
        with body.slot:
            received = await _receive(db, deps, upload, token, body, limit)
        if received.mismatched:
            raise AppError(
                460,
                "checksum_mismatch",
                "The bytes received do not match Upload-Checksum; the offset did not move.",
            )
        if received.overflowed:
            raise services.too_long(upload, settings)
        if received.stalled:
            raise AppError(
                408,
                "upload_stalled",
                "No bytes arrived for a while, so this request was ended; the bytes "
                "received are kept: ask HEAD for the offset and resume.",
            )
        upload = await services.owned(db, upload_id, actor)
        if received.disconnected or upload.size is None or upload.offset < upload.size:
            await leases.release(db, upload_id, token)
            await db.commit()
            return upload
        return await _complete_locked(db, deps, actor, upload, token)


async def complete(db: AsyncSession, deps: TusDeps, actor: Actor, upload_id: str) -> Upload:
    """Finish an upload whose bytes are all in (a zero-length one, or a retry)."""
    token = await leases.acquire(db, deps.settings, upload_id)
    await db.commit()
    async with _given_back_on_failure(db, upload_id, token):
        upload = await services.owned(db, upload_id, actor)
        services.check_open(upload)
        if upload.status != "pending":
            # Finished by another request since the caller looked.
            await leases.release(db, upload_id, token)
            await db.commit()
            return upload
        return await _complete_locked(db, deps, actor, upload, token)


async def create_final(
    db: AsyncSession,
    deps: TusDeps,
    actor: Actor,
    metadata: dict[str, str],
    partial_ids: list[str],
) -> Upload:
    """concatenation: one upload made of finished partial uploads, in order."""
    settings = deps.settings
    partials = [await services.owned(db, pid, actor) for pid in partial_ids]
    now = utcnow()
    leases.check_concatenable(partials, now)
    total = sum(p.size or 0 for p in partials)
    services.check_length(total, settings)
    upload = services.create(
        db,
        settings,
        actor,
        length=total,
        metadata=metadata,
        concat="final",
        partials=partial_ids,
    )
    await services.check_album(db, actor, upload)
    upload.offset = total
    upload_id = upload.id
    # The partials are claimed in the commit that creates the final upload.
    await leases.claim_partials(db, partial_ids, now)
    token = leases.lease_new(upload, settings)
    await db.commit()
    async with _given_back_on_failure(db, upload_id, token):
        return await _complete_locked(db, deps, actor, upload, token)


async def terminate(db: AsyncSession, deps: TusDeps, actor: Actor, upload_id: str) -> None:
    """termination: stop an upload and remove its bytes."""
    leases.check_terminable(await services.owned(db, upload_id, actor))
    token = await leases.acquire(db, deps.settings, upload_id)
    await db.commit()
    async with _given_back_on_failure(db, upload_id, token):
        # Fresh, now that the upload is ours: a PATCH may have finished it
        # since it was read above, and its storage state may have changed.
        upload = await services.owned(db, upload_id, actor)
        leases.check_terminable(upload)
        pieces = [Piece(upload_id, upload.offset, upload.storage or {})]
        if upload.concat == "final":
            # Its partials' bytes were kept for it alone.
            for partial_id in upload.partials or []:
                partial = await services.owned(db, partial_id, actor)
                pieces.append(Piece(partial_id, partial.size or 0, partial.storage or {}))
        await leases.release(db, upload_id, token, status="terminated")
        await quotas.release(db, [upload_id])
        await db.commit()
    await _discard(db, deps, upload_id, pieces)


@contextlib.asynccontextmanager
async def _given_back_on_failure(
    db: AsyncSession, upload_id: str, token: str
) -> AsyncIterator[None]:
    """Steps under the upload's lease: if any fails (or the request is cancelled),
    its transaction is dropped and the lease given back, so the upload is free."""
    try:
        yield
    except BaseException:
        await db.rollback()
        await leases.release(db, upload_id, token)
        await db.commit()
        raise


async def _keep_lease(db: AsyncSession, deps: TusDeps, upload_id: str, token: str) -> None:
    await leases.renew(db, deps.settings, upload_id, token)
    await db.commit()


async def _receive(
    db: AsyncSession, deps: TusDeps, upload: Upload, token: str, body: Body, limit: int
) -> Received:
    """Stream the body into the resumable store, recording each checkpoint in
    a short transaction; then record where it ended."""
    upload_id, settings = upload.id, deps.settings
    writer = await deps.resumable.open(
        upload_id, upload.offset, upload.storage or {}, services.target_key(upload)
    )

    async def checkpoint(durable: tuple[int, State] | None) -> None:
        if durable is None:
            await leases.renew(db, settings, upload_id, token)
        else:
            await leases.save_progress(db, settings, upload_id, token, *durable)
        await db.commit()

    try:
        received = await receive(
            writer,
            upload.offset,
            body.chunks,
            limit,
            body.checksum,
            checkpoint,
            Pace.of(settings.tus_lease),
        )
    except BaseException as exc:
        # Anything else (a store error, a lost lease, cancellation): keep what
        # is durable if we still can, then let the error answer.
        log.warning("tus PATCH on %s ended abnormally", upload_id, exc_info=True)
        lost = isinstance(exc, LeaseLost)
        keep = body.checksum is None
        await _record_quietly(db, settings, upload_id, token, writer, keep=keep, lost=lost)
        raise
    if received.state is not None:
        await leases.save_progress(db, settings, upload_id, token, received.offset, received.state)
        await db.commit()
    return received


async def _record_quietly(
    db: AsyncSession,
    settings: Settings,
    upload_id: str,
    token: str,
    writer: ResumableWriter,
    keep: bool,
    lost: bool,
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
        await leases.save_progress(db, settings, upload_id, token, offset, state)
        await db.commit()
    except Exception:
        log.warning("could not record progress of %s", upload_id, exc_info=True)


async def _complete_locked(
    db: AsyncSession, deps: TusDeps, actor: Actor, upload: Upload, token: str
) -> Upload:
    upload_id = upload.id
    if upload.concat == "final":
        partials = [await services.owned(db, pid, actor) for pid in upload.partials or []]
        pieces = [Piece(p.id, p.size or 0, p.storage or {}) for p in partials]
    else:
        pieces = [await finish.seal(deps.resumable, db, deps.settings, upload, token)]
        await db.commit()
    if upload.concat == "partial":
        await leases.release(db, upload_id, token, status="uploaded")
        await db.commit()
    else:
        await _finish(db, deps, upload, token, pieces)
    return await services.owned(db, upload_id, actor)


async def _finish(
    db: AsyncSession, deps: TusDeps, upload: Upload, token: str, pieces: list[Piece]
) -> Image:
    """Validate the assembled ``pieces`` as ``upload``'s image; commits either way.

    Only while this request holds the lease: if it ran out and another request
    took the upload (to finish or end it), this one answers 423 and touches
    nothing, not even the image's blob (the other request may be writing it,
    under the same reserved key)."""
    upload_id, settings = upload.id, deps.settings
    # Its quota reservations (read now: a rollback below expires ``upload``).
    reservations = quotas.upload_reservations(upload)
    try:
        image, adopted, duplicate = await _store_image(db, deps, upload, token, pieces)
        if duplicate:
            # The owner has these bytes already: the upload completes as that
            # image; nothing was stored, nothing is charged.
            marked = {**(upload.fields or {}), "duplicate": True}
            await leases.complete(db, upload_id, token, image.id, None, fields=marked)
            await quotas.release(db, reservations)
            await db.commit()
            await _discard(db, deps, upload_id, pieces)
            return image
        if adopted is not None:
            # From now on the bytes are the image's: discard must leave them.
            pieces = [Piece(pieces[0].upload_id, pieces[0].size, adopted)]
        await leases.complete(db, upload_id, token, image.id, adopted)
        # The reservations (covered before the bytes were stored) become the
        # image's size in the image's commit.
        await quotas.charge_image(db, settings, image, reservations)
        if adopted is None:
            async with uploads.discarding_on_failure(db, deps.store, image.blob_key):
                await uploads.announce_upload(db, image)
                await db.commit()
        else:
            # The blob is the upload's own sealed object: if the commit fails
            # it stays, as the upload does (pending), so a retry can use it.
            await uploads.announce_upload(db, image)
            await db.commit()
    except LeaseLost:
        await db.rollback()
        raise
    except AppError as exc:
        await db.rollback()
        if exc.status >= 500 or exc.status == 429:  # not the file's fault: retry later
            await leases.release(db, upload_id, token)
            await db.commit()
            raise
        failed = await leases.release(
            db, upload_id, token, status="failed", error_code=exc.code, error_detail=exc.detail
        )
        if failed:
            await quotas.release(db, reservations)
        await db.commit()
        if failed:
            await _discard(db, deps, upload_id, pieces)
        raise
    await _discard(db, deps, upload_id, pieces)
    return image


async def _store_image(
    db: AsyncSession, deps: TusDeps, upload: Upload, token: str, pieces: list[Piece]
) -> tuple[Image, State | None, bool]:
    """Validate and store the image (row added, not committed); the second
    value is the piece's new state if the resumable store adopted the bytes.
    The third is true when the image is instead the owner's existing copy of
    the same bytes (nothing validated, stored or added)."""
    settings = deps.settings
    with finish.staging_file(deps.store) as path:
        # Assembly and decoding can take a while: the lease is renewed after each.
        await _keep_lease(db, deps, upload.id, token)
        await deps.resumable.assemble(pieces, path)
        await _keep_lease(db, deps, upload.id, token)
        assembled = await finish.digest(path, pieces)
        fields = await finish.fields_now(db, upload)
        if not (upload.fields or {}).get("allowDuplicate"):
            existing = await uploads.find_duplicate(
                db, upload.owner_id, fields.org_id, assembled.sha256
            )
            if existing is not None:
                return existing, None, True
        # End those reads' transaction before the validation (seconds): no
        # pooled connection is held meanwhile. Commit, not rollback, so that
        # ``upload`` stays loaded.
        await db.commit()
        image = await finish.validate(settings, upload, fields, assembled)
        # Before the bytes are stored: the upload's reservations must cover the
        # image's size on its account (topped up here, committed with the lease
        # renewal below), or 413 if the rest does not fit.
        await quotas.cover_image(db, settings, image, quotas.upload_reservations(upload))
        await _keep_lease(db, deps, upload.id, token)
        adopted = await finish.store_bytes(deps.resumable, deps.store, pieces, image, path)
        uploads.add_new_image(db, image, settings, fields.album_id)
        return image, adopted, False


async def _discard(db: AsyncSession, deps: TusDeps, upload_id: str, pieces: list[Piece]) -> None:
    """Remove a finished upload's partial bytes (gc retries what fails here)."""
    try:
        await finish.discard(deps.resumable, pieces)
        await services.mark_cleaned(db, [upload_id, *(p.upload_id for p in pieces)], utcnow())
        await db.commit()
    except Exception:
        await db.rollback()
        log.warning("could not remove the bytes of upload %s", upload_id, exc_info=True)
