"""The delivery path: /images/{id} bytes and /images/{id}/metadata.

This is the hot path. A view costs one indexed primary-key read of the
columns delivery needs (no ORM object, no tag load, no write), and the
caller's credentials are only resolved when the image is not public.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from imghost.auth.services import Actor, authenticate
from imghost.context import AppContext
from imghost.delivery.http import (
    Unsatisfiable,
    http_date,
    not_modified,
    parse_range,
    range_applies,
)
from imghost.deps import Ctx, Db, MaybeActor
from imghost.errors import AppError, Forbidden, NotFound
from imghost.images import services as images
from imghost.images.policy import check_view
from imghost.images.schemas import ImageMetadataOut
from imghost.images.services import DeliveryFacts
from imghost.storage import BlobNotFound

router = APIRouter(tags=["delivery"])

# Bodies up to this size are read in one operation and sent in one message;
# larger ones stream in chunks so memory per request stays bounded.
SMALL_BODY = 512 * 1024


async def _load(ctx: AppContext, image_id: str) -> DeliveryFacts:
    item = await images.delivery_facts(ctx.reads, image_id)
    if item is None:
        raise NotFound("No such image.")
    return item


async def _caller(request: Request, ctx: AppContext) -> Actor | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    async with ctx.sessions() as session:
        return await authenticate(session, ctx.settings.secret_key, token.strip())


def _disposition(item: DeliveryFacts) -> str:
    name = item.filename or f"{item.id}.{item.format}"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _headers(item: DeliveryFacts, ctx: AppContext) -> dict[str, str]:
    if item.visibility == "private":
        cache = "private, no-store"
    else:
        # Bytes under an id never change, but visibility can: keep max-age modest.
        cache = f"public, max-age={ctx.settings.public_max_age}"
    return {
        "ETag": f'"{item.sha256[:32]}"',
        "Last-Modified": http_date(item.created_at),
        "Cache-Control": cache,
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": _disposition(item),
        "Accept-Ranges": "bytes",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    }


@router.head("/images/{image_id}", include_in_schema=False)
@router.get("/images/{image_id}", response_class=Response)
async def deliver_original(image_id: str, request: Request, ctx: Ctx) -> Response:
    """The original bytes with validators, caching headers and single-range support."""
    item = await _load(ctx, image_id)
    if item.visibility == "private":
        actor = await _caller(request, ctx)
        if actor is None or actor.user_id != item.owner_id:
            raise Forbidden("This image is private.")
    headers = _headers(item, ctx)
    if not_modified(
        headers["ETag"],
        item.created_at,
        request.headers.get("if-none-match"),
        request.headers.get("if-modified-since"),
    ):
        return Response(status_code=304, headers=_without_body_headers(headers))
    status = 200
    start, end = 0, item.size
    if range_applies(headers["ETag"], item.created_at, request.headers.get("if-range")):
        try:
            wanted = parse_range(request.headers.get("range"), item.size)
        except Unsatisfiable:
            raise AppError(
                416,
                "range_not_satisfiable",
                f"The requested range is outside the {item.size}-byte file.",
                headers={"Content-Range": f"bytes */{item.size}"},
            ) from None
        if wanted is not None:
            status, start, end = 206, wanted.start, wanted.end
            headers["Content-Range"] = wanted.content_range(item.size)
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=item.mime_type)
    try:
        if end - start <= SMALL_BODY:
            data = await ctx.store.read(item.blob_key, start, end)
            return Response(data, status_code=status, headers=headers, media_type=item.mime_type)
        body = await ctx.store.get(item.blob_key, start, end)
    except BlobNotFound:
        raise AppError(
            503, "blob_unavailable", "The image's bytes are temporarily unavailable."
        ) from None
    return StreamingResponse(body, status_code=status, headers=headers, media_type=item.mime_type)


def _without_body_headers(headers: dict[str, Any]) -> dict[str, str]:
    keep = ("ETag", "Last-Modified", "Cache-Control", "X-Content-Type-Options")
    return {k: headers[k] for k in keep}


@router.get("/images/{image_id}/metadata", response_model=ImageMetadataOut)
async def delivery_metadata(image_id: str, actor: MaybeActor, db: Db) -> ImageMetadataOut:
    image = check_view(actor, await images.get_image(db, image_id))
    return ImageMetadataOut.of(image)
