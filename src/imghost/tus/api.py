"""tus 1.0.0 endpoints at /v1/tus/: OPTIONS, POST, HEAD, PATCH, DELETE.

The router speaks the protocol (headers in and out) and owns the
transaction of what it does itself (creating an upload); each step taken
under an upload's lease is ``flow``'s, which commits between them. The
steps are services: ``services`` (rows), ``leases`` (the write lease),
``receive`` (bytes) and ``finish`` (validation into an image). Every
response carries ``Tus-Resumable`` (see ``tus.middleware``), errors
included, and errors are problem+json like everywhere else.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from imghost.bodies import content_length
from imghost.deps import Ctx, CurrentActor, Db, UploadActor
from imghost.errors import AppError
from imghost.quotas import services as quotas
from imghost.settings import Settings
from imghost.tus import flow, protocol, services
from imghost.tus.flow import TusDeps
from imghost.uploads.models import Upload
from imghost.uploads.slots import upload_slot
from imghost.uploads.validation import CHECK, CHECKS

router = APIRouter(tags=["tus"])


async def _tus_deps(ctx: Ctx) -> TusDeps:
    return TusDeps(ctx.settings, ctx.store, ctx.resumable)


Deps = Annotated[TusDeps, Depends(_tus_deps)]


def _location(settings: Settings, upload_id: str) -> str:
    # Path-absolute: tus clients resolve it against the URL they posted to,
    # so it stays right behind any proxy that keeps our paths.
    prefix = settings.public_base_url.split("://", 1)[-1].partition("/")[2]
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
async def tus_options(deps: Deps) -> Response:
    """What this tus server supports."""
    return Response(
        status_code=204,
        headers={
            "Tus-Version": protocol.VERSION,
            "Tus-Extension": ",".join(protocol.EXTENSIONS),
            "Tus-Max-Size": str(deps.settings.max_file_size),
            "Tus-Checksum-Algorithm": ",".join(protocol.CHECKSUM_ALGORITHMS),
        },
    )


@router.post("/v1/tus/", status_code=201, response_class=Response)
@router.post("/v1/tus", status_code=201, response_class=Response, include_in_schema=False)
async def tus_create(
    request: Request, actor: UploadActor, db: Db, deps: Deps, _: None = CHECK
) -> Response:
    """Create an upload (Upload-Length or Upload-Defer-Length: 1, Upload-Metadata)."""
    headers = request.headers
    protocol.check_version(headers.get("tus-resumable"))
    metadata = protocol.parse_metadata(headers.get("upload-metadata"))
    concat = protocol.parse_concat(headers.get("upload-concat"))
    if concat is not None and concat[0] == "final":
        upload = await flow.create_final(db, deps, actor, metadata, concat[1])
        location = {"Location": _location(deps.settings, upload.id)}
        return Response(status_code=201, headers={**location, **_upload_headers(upload)})
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
            deps.settings,
            actor,
            length=length,
            metadata=metadata,
            concat="partial" if concat else None,
        )
        await services.check_album(db, actor, upload)
        # The declared length is held against the quota now (none when deferred).
        await quotas.reserve_upload(db, deps.settings, upload)
        upload_id = upload.id
        await db.commit()
        location = {"Location": _location(deps.settings, upload_id)}
        if with_body:
            # The body is the first chunk. The upload exists from now on:
            # an error says where it is, so the client can resume (HEAD it).
            try:
                body = _body(request, 0, slot)
                upload = await flow.append(db, deps, actor, upload_id, body)
            except AppError as exc:
                exc.headers = {**exc.headers, **location}
                raise
        elif length == 0:
            upload = await flow.complete(db, deps, actor, upload_id)
    return Response(status_code=201, headers={**location, **_upload_headers(upload)})


@router.head("/v1/tus/{upload_id}", response_class=Response)
async def tus_head(upload_id: str, actor: CurrentActor, db: Db) -> Response:
    """The upload's offset (where to resume) and length."""
    upload = await services.owned(db, upload_id, actor)
    services.check_open(upload)
    return Response(status_code=200, headers=_upload_headers(upload))


@router.patch("/v1/tus/{upload_id}", status_code=204, response_class=Response, dependencies=CHECKS)
async def tus_patch(
    upload_id: str, request: Request, actor: UploadActor, db: Db, deps: Deps
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
    body = _body(request, offset, upload_slot(request, actor.user_id))
    upload = await flow.append(db, deps, actor, upload_id, body)
    return Response(status_code=204, headers=_upload_headers(upload))


def _body(
    request: Request, offset: int, slot: contextlib.AbstractContextManager[object]
) -> flow.Body:
    """The request's body at ``offset`` with its headers (parsed before any read)."""
    headers = request.headers
    checksum_header = headers.get("upload-checksum")
    return flow.Body(
        offset=offset,
        chunks=request.stream(),
        declared=content_length(request.scope["headers"]),
        checksum=protocol.parse_checksum(checksum_header) if checksum_header else None,
        length=protocol.parse_length(headers.get("upload-length"), "Upload-Length"),
        slot=slot,
    )


@router.delete("/v1/tus/{upload_id}", status_code=204, response_class=Response)
async def tus_terminate(
    upload_id: str, request: Request, actor: CurrentActor, db: Db, deps: Deps
) -> Response:
    """termination: stop an upload and remove its bytes."""
    protocol.check_version(request.headers.get("tus-resumable"))
    await flow.terminate(db, deps, actor, upload_id)
    return Response(status_code=204)
