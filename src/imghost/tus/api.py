"""tus 1.0.0 endpoints at /v1/tus/: OPTIONS, POST, HEAD, PATCH, DELETE.

The router speaks the protocol (headers in and out); the work is in
``services`` (rows and the lease), ``receive`` (bytes) and ``finish``
(validation into an image). Every response carries ``Tus-Resumable`` (see
``tus.middleware``), errors included, and errors are problem+json like
everywhere else.
"""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request, Response
from sqlalchemy import update

from imghost.auth.services import Actor
from imghost.bodies import content_length
from imghost.context import AppContext
from imghost.db import utcnow
from imghost.deps import Ctx, CurrentActor, Db, UploadActor
from imghost.errors import AppError
from imghost.quotas import services as quotas
from imghost.storage.resumable import Piece
from imghost.tus import finish, protocol, services
from imghost.tus.receive import receive
from imghost.uploads.models import Upload
from imghost.uploads.slots import upload_slot
from imghost.uploads.validation import CHECK, CHECKS

router = APIRouter(tags=["tus"])


def _location(ctx: AppContext, upload_id: str) -> str:
    # Path-absolute: tus clients resolve it against the URL they posted to,
    # so it stays right behind any proxy that keeps our paths.
    prefix = ctx.settings.public_base_url.split("://", 1)[-1].partition("/")[2]
    return f"/{prefix + '/' if prefix else ''}v1/tus/{upload_id}"


def _upload_headers(upload: Upload) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload.offset), "Cache-Control": "no-store"}
    if upload.size is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(upload.size)
    if upload.status == "pending":
        headers["Upload-Expires"] = protocol.http_date(upload.expires_at)
    if upload.concat == "partial":
        headers["Upload-Concat"] = "partial"
    elif upload.concat == "final" and upload.partials:
        headers["Upload-Concat"] = "final;" + " ".join(f"/v1/tus/{pid}" for pid in upload.partials)
    return headers


@router.options("/v1/tus/", status_code=204, response_class=Response)
@router.options(
    "/v1/tus/{upload_id}", status_code=204, response_class=Response, include_in_schema=False
)
async def tus_options(ctx: Ctx) -> Response:
    """What this tus server supports."""
    return Response(
        status_code=204,
        headers={
            "Tus-Version": protocol.VERSION,
            "Tus-Extension": ",".join(protocol.EXTENSIONS),
            "Tus-Max-Size": str(ctx.settings.max_file_size),
            "Tus-Checksum-Algorithm": ",".join(protocol.CHECKSUM_ALGORITHMS),
        },
    )


@router.post("/v1/tus/", status_code=201, response_class=Response)
@router.post("/v1/tus", status_code=201, response_class=Response, include_in_schema=False)
async def tus_create(
    request: Request, actor: UploadActor, db: Db, ctx: Ctx, _: None = CHECK
) -> Response:
    """Create an upload (Upload-Length or Upload-Defer-Length: 1, Upload-Metadata)."""
    headers = request.headers
    protocol.check_version(headers.get("tus-resumable"))
    metadata = protocol.parse_metadata(headers.get("upload-metadata"))
    concat = protocol.parse_concat(headers.get("upload-concat"))
    if concat is not None and concat[0] == "final":
        return await _create_final(request, actor, db, ctx, metadata, concat[1])
    length = protocol.parse_length(headers.get("upload-length"), "Upload-Length")
    deferred = headers.get("upload-defer-length")
    if deferred is not None and deferred != "1":
        raise AppError(400, "invalid_header", "Upload-Defer-Length can only be 1.")
    if (length is None) == (deferred is None):
        raise AppError(
            400,
            "invalid_header",
            "Send exactly one of Upload-Length and Upload-Defer-Length: 1.",
        )
    if concat is not None and length is None:
        raise AppError(400, "invalid_header", "A partial upload needs its Upload-Length.")
    with_body = headers.get("content-type") == protocol.OFFSET_CONTENT_TYPE
    with contextlib.ExitStack() as slot:
        if with_body:
            # creation-with-upload: the body's slot is taken before the upload
            # exists, so a 429 leaves no row and no quota reservation behind
            # (each retry stacked up another until it expired).
            slot.enter_context(upload_slot(request, actor.user_id))
        upload = services.create(
            db,
            ctx.settings,
            actor,
            length=length,
            metadata=metadata,
            concat="partial" if concat else None,
        )
        await services.check_album(db, actor, upload)
        # The declared length is held against the quota now (none when deferred).
        await quotas.reserve_upload(db, ctx.settings, upload)
        upload_id = upload.id
        await db.commit()
        location = {"Location": _location(ctx, upload_id)}
        if with_body:
            # The body is the first chunk. The upload exists from now on:
            # an error says where it is, so the client can resume (HEAD it).
            try:
                upload = await _append(request, db, ctx, actor, upload_id, 0, slot=slot)
            except AppError as exc:
                exc.headers = {**exc.headers, **location}
                raise
        elif length == 0:
            upload = await _complete(db, ctx, actor, upload_id)
    return Response(status_code=201, headers={**location, **_upload_headers(upload)})


async def _create_final(
    request: Request,
    actor: Actor,
    db: Db,
    ctx: AppContext,
    metadata: dict[str, str],
    partial_ids: list[str],
) -> Response:
    """concatenation: one upload made of finished partial uploads, in order."""
    partials = [await services.owned(db, pid, actor) for pid in partial_ids]
    now = utcnow()
    for partial in partials:
        if partial.concat != "partial" or partial.status != "uploaded":
            raise AppError(
                400,
                "invalid_concatenation",
                f"Upload {partial.id} is not a finished partial upload "
                "(create it with Upload-Concat: partial and send all its bytes first).",
            )
        if partial.expires_at <= now:
            raise AppError(
                400, "invalid_concatenation", f"Partial upload {partial.id} has expired."
            )
    total = sum(p.size or 0 for p in partials)
    services.check_length(total, ctx.settings)
    upload = services.create(
        db,
        ctx.settings,
        actor,
        length=total,
        metadata=metadata,
        concat="final",
        partials=partial_ids,
    )
    await services.check_album(db, actor, upload)
    upload.offset = total
    upload_id = upload.id
    # Claim the partials with the same commit that creates the final upload:
    # two concurrent concatenations cannot both use one, and gc cannot expire
    # (and empty) one that is being claimed.
    claimed = await db.execute(
        update(Upload)
        .where(Upload.id.in_(partial_ids), Upload.status == "uploaded", Upload.expires_at > now)
        .values(status="concatenated")
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != len(partial_ids):
        raise AppError(
            409,
            "invalid_concatenation",
            "A partial upload was concatenated by another request, or expired.",
        )
    token = services.lease_new(upload)
    await db.commit()
    try:
        upload = await _complete_locked(db, ctx, actor, upload, token)
    except BaseException:
        await _give_up(db, upload_id, token)
        raise
    return Response(
        status_code=201,
        headers={"Location": _location(ctx, upload_id), **_upload_headers(upload)},
    )


@router.head("/v1/tus/{upload_id}", response_class=Response)
async def tus_head(upload_id: str, actor: CurrentActor, db: Db) -> Response:
    """The upload's offset (where to resume) and length."""
    upload = await services.owned(db, upload_id, actor)
    services.check_open(upload)
    return Response(status_code=200, headers=_upload_headers(upload))


@router.patch("/v1/tus/{upload_id}", status_code=204, response_class=Response, dependencies=CHECKS)
async def tus_patch(
    upload_id: str, request: Request, actor: UploadActor, db: Db, ctx: Ctx
) -> Response:
    """Append the body (application/offset+octet-stream) at Upload-Offset."""
    headers = request.headers
    protocol.check_version(headers.get("tus-resumable"))
    if headers.get("content-type") != protocol.OFFSET_CONTENT_TYPE:
        raise AppError(
            415,
            "unsupported_media_type",
            f"PATCH bodies must be sent as Content-Type: {protocol.OFFSET_CONTENT_TYPE}.",
        )
    offset = protocol.parse_length(headers.get("upload-offset"), "Upload-Offset")
    if offset is None:
        raise AppError(400, "invalid_header", "Send Upload-Offset with the current offset.")
    upload = await _append(request, db, ctx, actor, upload_id, offset)
    return Response(status_code=204, headers=_upload_headers(upload))


async def _append(
    request: Request,
    db: Db,
    ctx: AppContext,
    actor: Actor,
    upload_id: str,
    offset: int,
    *,
    slot: contextlib.AbstractContextManager[object] | None = None,
) -> Upload:
    """Receive one body under the upload's lease; finish the upload if it is whole.

    ``slot``: this body's upload slot if the caller took it already (it is
    released once the body is received, not held through the validation)."""
    headers = request.headers
    checksum_header = headers.get("upload-checksum")
    checksum = protocol.parse_checksum(checksum_header) if checksum_header else None
    new_length = protocol.parse_length(headers.get("upload-length"), "Upload-Length")
    upload = await services.owned(db, upload_id, actor)
    if _done(upload, offset):
        return upload
    if upload.concat == "final":
        if upload.status != "pending" or offset != upload.offset:
            raise AppError(403, "upload_is_final", "A concatenated upload cannot be patched.")
        # Its assembly failed for want of resources (5xx): an empty PATCH retries.
        return await _complete(db, ctx, actor, upload_id)
    token = await services.acquire(db, upload_id)
    await db.commit()
    try:
        # Fresh, now that the upload is ours: another request may have
        # finished or ended it since it was read above.
        upload = await services.owned(db, upload_id, actor)
        if _done(upload, offset):
            await services.release(db, upload_id, token)
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
        if new_length is not None:
            _set_length(upload, new_length, ctx)
            await services.save_progress(
                db,
                ctx.settings,
                upload_id,
                token,
                upload.offset,
                upload.storage or {},
                size=new_length,
            )
            await db.commit()
        size = upload.size
        limit = (size if size is not None else ctx.settings.max_file_size) - upload.offset
        declared = content_length(request.scope["headers"])
        if declared is not None and declared > limit:
            raise _too_long(upload, ctx)
        # End the read transaction: no pooled connection is held while the
        # body streams in (receive commits its checkpoints in short ones).
        await db.commit()
        with slot if slot is not None else upload_slot(request, actor.user_id):
            received = await receive(ctx, db, upload, token, request.stream(), limit, checksum)
        if received.mismatched:
            raise AppError(
                460,
                "checksum_mismatch",
                "The bytes received do not match Upload-Checksum; the offset did not move.",
            )
        if received.overflowed:
            raise _too_long(upload, ctx)
        if received.stalled:
            raise AppError(
                408,
                "upload_stalled",
                "No bytes arrived for a while, so this request was ended; the bytes "
                "received are kept: ask HEAD for the offset and resume.",
            )
        upload = await services.owned(db, upload_id, actor)
        if received.disconnected or upload.size is None or upload.offset < upload.size:
            await services.release(db, upload_id, token)
            await db.commit()
            return upload
        return await _complete_locked(db, ctx, actor, upload, token)
    except BaseException:
        await _give_up(db, upload_id, token)
        raise


def _done(upload: Upload, offset: int) -> bool:
    """True for a retried last PATCH whose answer was lost (nothing to do);
    raises for an upload that can no longer be written."""
    if upload.status in ("completed", "uploaded", "concatenated") and offset == upload.offset:
        return True
    services.check_open(upload)
    return False


async def _give_up(db: Db, upload_id: str, token: str) -> None:
    """After a failure under the lease: drop the transaction, free the upload."""
    await db.rollback()
    await services.release(db, upload_id, token)
    await db.commit()


async def _complete(db: Db, ctx: AppContext, actor: Actor, upload_id: str) -> Upload:
    token = await services.acquire(db, upload_id)
    await db.commit()
    try:
        upload = await services.owned(db, upload_id, actor)
        services.check_open(upload)
        if upload.status != "pending":
            # Finished by another request since the caller looked.
            await services.release(db, upload_id, token)
            await db.commit()
            return upload
        return await _complete_locked(db, ctx, actor, upload, token)
    except BaseException:
        await _give_up(db, upload_id, token)
        raise


async def _complete_locked(
    db: Db, ctx: AppContext, actor: Actor, upload: Upload, token: str
) -> Upload:
    upload_id = upload.id
    if upload.concat == "final":
        partials = [await services.owned(db, pid, actor) for pid in upload.partials or []]
        pieces = [Piece(p.id, p.size or 0, p.storage or {}) for p in partials]
    else:
        pieces = [await finish.seal(ctx, db, upload, token)]
    if upload.concat == "partial":
        await services.release(db, upload_id, token, status="uploaded")
        await db.commit()
    else:
        await finish.finish(ctx, db, upload, token, pieces)
    return await services.owned(db, upload_id, actor)


def _set_length(upload: Upload, length: int, ctx: AppContext) -> None:
    if upload.size is not None:
        if upload.size != length:
            raise AppError(400, "invalid_header", "Upload-Length cannot change once it is set.")
        return
    if length < upload.offset:
        raise AppError(
            400, "invalid_header", "Upload-Length is smaller than the bytes already received."
        )
    services.check_length(length, ctx.settings)
    upload.size = length


def _too_long(upload: Upload, ctx: AppContext) -> AppError:
    if upload.size is None:
        return AppError(
            413,
            "file_too_large",
            f"The file is larger than the {ctx.settings.max_file_size / 1e6:.0f} MB limit.",
            limit=ctx.settings.max_file_size,
        )
    return AppError(
        413,
        "upload_length_exceeded",
        f"More bytes were sent than the {upload.size} the upload declared.",
    )


@router.delete("/v1/tus/{upload_id}", status_code=204, response_class=Response)
async def tus_terminate(
    upload_id: str, request: Request, actor: CurrentActor, db: Db, ctx: Ctx
) -> Response:
    """termination: stop an upload and remove its bytes."""
    protocol.check_version(request.headers.get("tus-resumable"))
    _check_terminable(await services.owned(db, upload_id, actor))
    token = await services.acquire(db, upload_id)
    await db.commit()
    try:
        # Fresh, now that the upload is ours: a PATCH may have finished it
        # since it was read above, and its storage state may have changed.
        upload = await services.owned(db, upload_id, actor)
        _check_terminable(upload)
        pieces = [Piece(upload_id, upload.offset, upload.storage or {})]
        if upload.concat == "final":
            # Its partials' bytes were kept for it alone.
            for partial_id in upload.partials or []:
                partial = await services.owned(db, partial_id, actor)
                pieces.append(Piece(partial_id, partial.size or 0, partial.storage or {}))
        await services.release(db, upload_id, token, status="terminated")
        await quotas.release(db, [upload_id])
        await db.commit()
    except BaseException:
        await _give_up(db, upload_id, token)
        raise
    await finish.discard(ctx, db, upload_id, pieces)
    return Response(status_code=204)


def _check_terminable(upload: Upload) -> None:
    if upload.status == "terminated":
        raise services.not_found()
    if upload.status in ("completed", "concatenated"):
        # A concatenated partial's bytes belong to its final upload now.
        raise AppError(
            409,
            "upload_already_finalized",
            "This upload has already become (part of) an image; delete the image instead.",
            imageId=upload.image_id,
        )
