"""Routes that take bytes in: POST /v1/images, POST /v1/uploads, the local PUT target."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from imghost.access.decide import image_access
from imghost.access.grants import caller_of_actor
from imghost.access.policy import Action
from imghost.albums.uploads import album_field, with_album
from imghost.auth.services import Actor
from imghost.bodies import BodyTooLarge, content_length
from imghost.db import utcnow
from imghost.deps import Ctx, CurrentActor, Db, UploadActor, Uploader
from imghost.errors import AppError, problem
from imghost.images.fields import (
    VISIBILITIES,
    NewImageFields,
    fields_from_text,
)
from imghost.images.schemas import BatchError, ImageOut, ImagePatch
from imghost.images.services import update_image
from imghost.quotas import services as quotas
from imghost.reads import SessionReader
from imghost.schemas import unstorable
from imghost.uploads import ingest_api as ingest
from imghost.uploads import services
from imghost.uploads.models import Upload
from imghost.uploads.multipart import Form, read_form
from imghost.uploads.schemas import (
    FinalizeIn,
    SourceUrlIn,
    UploadBatch,
    UploadedImage,
    UploadIn,
    UploadOut,
    UploadStatus,
)
from imghost.uploads.signing import verify_upload
from imghost.uploads.slots import upload_slot
from imghost.uploads.spool import Spool, TooLarge
from imghost.uploads.validation import CHECKS

log = logging.getLogger(__name__)

router = APIRouter(tags=["uploads"])

MAX_JSON_BODY = 256 * 1024

_Body = TypeVar("_Body", FinalizeIn, SourceUrlIn)

_UPLOADED: dict[str, Any] = {
    "anyOf": [
        {"$ref": "#/components/schemas/UploadedImage"},
        {"$ref": "#/components/schemas/UploadBatch"},
    ]
}
_CREATE_IMAGES_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more image files (repeat the part).",
                        },
                        "title": {"type": "string"},
                        "description": {"type": "string"},
                        "tags": {"type": "string", "description": "comma-separated; repeatable"},
                        "visibility": {"type": "string", "enum": list(VISIBILITIES)},
                        "albumId": {
                            "type": "string",
                            "description": "add to this album (needs upload permission on it)",
                        },
                        "allowDuplicate": {
                            "type": "string",
                            "enum": ["true", "false"],
                            "description": "store a copy even if the owner has these bytes",
                        },
                    },
                }
            },
            "application/json": {
                "schema": {
                    "oneOf": [
                        FinalizeIn.model_json_schema(by_alias=True),
                        SourceUrlIn.model_json_schema(by_alias=True),
                    ]
                }
            },
        },
    },
    "responses": {
        "201": {
            "description": "A new image. Several files: {images, errors}.",
            "content": {"application/json": {"schema": _UPLOADED}},
        },
        "200": {
            "description": "Nothing new was stored: the owner's existing image with the same "
            "bytes (duplicate: true), or a tus upload's image (finalize).",
            "content": {"application/json": {"schema": _UPLOADED}},
        },
    },
}


@router.post("/v1/images", status_code=201, openapi_extra=_CREATE_IMAGES_DOC, dependencies=CHECKS)
async def create_images(request: Request, actor: UploadActor, db: Db, ctx: Ctx) -> JSONResponse:
    """Upload directly (multipart/form-data) or finalize a presigned upload (JSON)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await _direct_upload(request, content_type, actor, db, ctx)
    if content_type.startswith("application/json"):
        return await _from_json(request, actor, db, ctx)
    raise AppError(
        415,
        "unsupported_media_type",
        "Send multipart/form-data to upload files, or application/json with an uploadId "
        "to finalize a presigned upload or a sourceUrl to fetch a file.",
    )


def _fields_from_form(form: Form, actor: Actor) -> NewImageFields:
    for name, values in form.fields.items():
        if any(unstorable(v) for v in values):
            raise AppError(
                422, "validation_error", f"The field {name!r} contains a NUL or invalid character."
            )
    fields = fields_from_text(
        title=form.first("title"),
        description=form.first("description"),
        tags=form.fields.get("tags", []),
        visibility=form.first("visibility"),
        keep_gps=form.first("keepGps"),
        default_visibility=actor.default_visibility,
        default_keep_gps=actor.keep_gps,
    )
    return replace(fields, album_id=album_field(form.first("albumId")))


async def _direct_upload(
    request: Request, content_type: str, actor: Actor, db: Db, ctx: Ctx
) -> JSONResponse:
    settings = ctx.settings
    # The body is read before the session's first statement: no pooled
    # connection is held while it streams in.
    with upload_slot(request, actor.user_id):
        form = await read_form(
            content_type,
            request.stream(),
            staging=ctx.store.staging_dir,
            max_file=settings.max_file_size,
            max_total=settings.max_batch_size,
            max_files=settings.max_batch_files,
        )
    try:
        if not form.files:
            raise AppError(
                422, "no_file", "Attach at least one file in a multipart part named `file`."
            )
        fields = await with_album(db, caller_of_actor(actor), _fields_from_form(form, actor))
        allow_duplicate = services.allow_duplicate_field(form.first("allowDuplicate"))
        # End the album check's transaction before the files are validated
        # (seconds each): no pooled connection is held meanwhile.
        await db.commit()
        images: list[UploadedImage] = []
        failures: list[tuple[str | None, AppError]] = []
        for part in form.files:
            try:
                if part.too_large:
                    raise services.file_too_large(settings.max_file_size)
                images.append(
                    await ingest.store_file(
                        db, ctx, actor, fields, part.spool, part.filename, allow_duplicate
                    )
                )
            except AppError as exc:
                await db.rollback()
                failures.append((part.filename, exc))
    finally:
        form.cleanup()
    # 201 when something new was stored; 200 when every file was a duplicate.
    status = 200 if images and all(i.duplicate for i in images) else 201
    if len(form.files) == 1:
        if failures:
            raise failures[0][1]
        return JSONResponse(images[0].model_dump(mode="json", by_alias=True), status_code=status)
    errors = [BatchError(filename=name, code=e.code, detail=e.detail) for name, e in failures]
    if not images:
        first = failures[0][1]
        return problem(
            first.status,
            first.code,
            f"None of the {len(errors)} files was accepted; the first: {first.detail}",
            instance=request.url.path,
            errors=[e.model_dump(by_alias=True) for e in errors],
        )
    result = UploadBatch(images=images, errors=errors)
    return JSONResponse(result.model_dump(mode="json", by_alias=True), status_code=status)


async def _read_json(request: Request) -> Any:
    # An upload route, so BodyLimits leaves its size to us: the same error as
    # its limit on every other JSON body, refused unread when declared.
    if (content_length(request.scope["headers"]) or 0) > MAX_JSON_BODY:
        raise BodyTooLarge(MAX_JSON_BODY)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise BodyTooLarge(MAX_JSON_BODY)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise AppError(400, "invalid_json", "The request body is not valid JSON.") from exc


async def _from_json(request: Request, actor: Actor, db: Db, ctx: Ctx) -> JSONResponse:
    """Finalize an upload ({uploadId, ...}) or fetch one ({sourceUrl, ...})."""
    raw = await _read_json(request)
    if isinstance(raw, dict) and "sourceUrl" in raw:
        if "uploadId" in raw:
            raise AppError(
                422,
                "validation_error",
                "Send either uploadId (finalize an upload) or sourceUrl (fetch a file), not both.",
            )
        return await ingest.upload_from_url(request, _validated(SourceUrlIn, raw), actor, db, ctx)
    return await _finalize(_validated(FinalizeIn, raw), actor, db, ctx)


def _validated(model: type[_Body], raw: Any) -> _Body:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise AppError(
            422,
            "validation_error",
            f"The request is invalid: {field}: {first['msg']}.",
            errors=[
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()
            ],
        ) from exc


async def _finalize(body: FinalizeIn, actor: Actor, db: Db, ctx: Ctx) -> JSONResponse:
    existing = await services.image_of_upload(db, body.upload_id, actor.user_id)
    if existing is not None:
        # A tus upload became its image when its last byte arrived; finalizing
        # it returns that image, with any fields given here applied.
        patch = ImagePatch.model_validate(
            body.model_dump(
                include={"title", "description", "tags", "visibility"}, exclude_unset=True
            )
        )
        # The same rules as PATCH /v1/images/{id}: the uploader may have lost
        # rights meanwhile (left the org), or deleted the image.
        caller, reads = caller_of_actor(actor), SessionReader(db)
        await image_access(reads, caller, existing, Action.EDIT_METADATA)
        if "visibility" in patch.model_fields_set and patch.visibility != existing.visibility:
            await image_access(reads, caller, existing, Action.SHARE)
        image = await update_image(db, existing, patch)
        await db.commit()
        out = ImageOut.of(image, ctx.settings.public_base_url)
        return JSONResponse(out.model_dump(mode="json", by_alias=True), status_code=200)
    fields = await with_album(db, caller_of_actor(actor), ingest.json_fields(body, actor))
    upload = await services.pending_upload(db, body.upload_id, actor.user_id)
    # End the read transaction (commit: ``actor.user`` stays loaded): the
    # download and validation below take seconds and must not hold a pooled
    # connection, or a few users' uploads empty the pool for everyone.
    await db.commit()
    done = await services.finalize_upload(
        db, ctx.store, ctx.settings, upload, fields, allow_duplicate=body.allow_duplicate
    )
    image = done.image
    if done.duplicate:
        out = UploadedImage.of_image(image, ctx.settings.public_base_url, duplicate=True)
        await db.commit()
    else:
        async with services.discarding_on_failure(db, ctx.store, image.blob_key):
            await services.announce_upload(db, image)
            await db.commit()
        out = UploadedImage.of_image(image, ctx.settings.public_base_url, duplicate=False)
    # The validated bytes now live under the image (or were the owner's
    # already); drop the upload object.
    await services.discard_blob(ctx.store, services.upload_key(body.upload_id))
    status = 200 if done.duplicate else 201
    return JSONResponse(out.model_dump(mode="json", by_alias=True), status_code=status)


@router.post("/v1/uploads", status_code=201, response_model=UploadOut)
async def create_upload(body: UploadIn, actor: Uploader, db: Db, ctx: Ctx) -> UploadOut:
    """Start a presigned upload: PUT the bytes to `presignedUrl`, then POST /v1/images."""
    created = await services.create_upload(
        db,
        ctx.store,
        ctx.settings,
        actor.user_id,
        body.filename,
        body.size,
        body.content_type,
        body.checksum,
    )
    await quotas.reserve_upload(db, ctx.settings, created.upload)
    await db.commit()
    return UploadOut(
        upload_id=created.upload.id,
        presigned_url=created.url,
        expires_in=ctx.settings.presign_expires,
        expires_at=created.upload.expires_at,
    )


@router.put("/v1/uploads/{upload_id}/content", include_in_schema=True)
async def put_upload_content(
    upload_id: str,
    request: Request,
    db: Db,
    ctx: Ctx,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
) -> JSONResponse:
    """The presigned PUT target when the blob store is local files (S3 is used directly)."""
    if not verify_upload(ctx.settings.secret_key, upload_id, expires, signature):
        raise AppError(403, "invalid_signature", "The upload URL's signature is not valid.")
    if expires <= int(utcnow().timestamp()):
        raise AppError(410, "upload_expired", "This upload URL has expired.")
    upload = await services.pending_upload(db, upload_id, None)
    if upload.size is None:  # a tus upload: its bytes go to /v1/tus/
        raise AppError(409, "upload_incomplete", "Send this upload's bytes to /v1/tus/.")
    # End the transaction before the body: its connection goes back to the
    # pool instead of waiting on the client. The row is only read from now on.
    db.expunge(upload)
    await db.rollback()
    declared = content_length(request.scope["headers"])
    if declared is not None and declared > upload.size:
        raise _over_declared(upload.size)
    spool = Spool(ctx.store.staging_dir, upload.size)
    try:
        with upload_slot(request, upload.owner_id):
            async for chunk in request.stream():
                try:
                    await anyio.to_thread.run_sync(spool.write, chunk)
                except TooLarge as exc:
                    raise _over_declared(upload.size) from exc
        spool.finish()
        await services.receive_upload_bytes(ctx.store, upload, spool)
    finally:
        spool.cleanup()
    return JSONResponse({"uploadId": upload_id, "size": upload.size}, status_code=200)


def _over_declared(size: int) -> AppError:
    return AppError(413, "size_mismatch", f"More than the declared {size} bytes were sent.")


@router.get("/v1/uploads/{upload_id}", response_model=UploadStatus)
async def get_upload(upload_id: str, actor: CurrentActor, db: Db) -> UploadStatus:
    """Where an upload stands (presigned or tus): offset, and the image it became."""
    upload = await db.get(Upload, upload_id)
    if upload is None or upload.owner_id != actor.user_id:
        raise AppError(404, "upload_not_found", "No such upload.")
    return UploadStatus.of(upload)
