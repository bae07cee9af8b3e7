"""The delivery path: /images/{id} bytes and /images/{id}/metadata.

This is the hot path. A view costs one indexed primary-key read of the
columns delivery needs (no ORM object, no tag load, no write), and the
caller's credentials are only resolved when the image is not public.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from imghost.access.decide import holds, image_access
from imghost.access.policy import Action, Level
from imghost.delivery.access import (
    EDGE_HEADER,
    authorize,
    cache_headers,
    load_deliverable,
    not_modified_response,
)
from imghost.delivery.http import Unsatisfiable, parse_range, range_applies
from imghost.delivery.lean import LeanRoute
from imghost.delivery.sendfile import accel_response, sendfile_prefix
from imghost.deps import Ctx, Db, Reads, Who
from imghost.errors import AppError
from imghost.images import services as images
from imghost.images.policy import served_original
from imghost.images.schemas import ImageMetadataOut
from imghost.images.services import DeliveryFacts
from imghost.storage import BlobNotFound

router = APIRouter(tags=["delivery"])
# The hot path: its own route class (no dependency solving); metadata keeps FastAPI's.
lean = APIRouter(tags=["delivery"], route_class=LeanRoute)

# Bodies up to this size are read in one operation and sent in one message;
# larger ones stream in chunks so memory per request stays bounded.
SMALL_BODY = 512 * 1024


# Extensions that name each stored (sniffed) format; the first is used when the
# uploader's name has another one.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "jpeg": ("jpg", "jpeg", "jpe"),
    "png": ("png",),
    "gif": ("gif",),
    "webp": ("webp",),
    "heic": ("heic", "heif"),
    "heif": ("heif", "heic"),
    "avif": ("avif",),
}


def download_name(filename: str | None, image_id: str, fmt: str) -> str:
    """The uploader's name with an extension of the image's real format.

    A name like ``evil.html`` saved from our response would be opened as a
    page by the browser or desktop: the extension always follows the bytes.
    """
    allowed = EXTENSIONS.get(fmt, (fmt,) if fmt.isalnum() else ("bin",))
    stem, dot, ext = (filename or "").rpartition(".")
    if not dot:
        stem = filename or ""
    elif ext.lower() in allowed and stem:
        return filename or ""
    return f"{stem.rstrip('.') or image_id}.{allowed[0]}"


def _disposition(item: DeliveryFacts) -> str:
    name = download_name(item.filename, item.id, item.format)
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@lean.head("/images/{image_id}", include_in_schema=False)
@lean.get("/images/{image_id}", response_class=Response)
async def deliver_original(image_id: str, request: Request, ctx: Ctx) -> Response:
    """The original bytes with validators, caching headers and single-range support.

    Everyone but the owner gets the GPS-scrubbed copy when the original has GPS
    the owner did not opt in to share (same length, same pixels).
    """
    item = await load_deliverable(request, ctx.reads, ctx.facts, image_id)
    access = await authorize(request, ctx.credentials, ctx.reads, item, Action.DOWNLOAD_ORIGINAL)
    # An admin reviewing a quarantined image gets the very bytes that were judged.
    reviewing = access.admin and item.status == "quarantined"
    blob_key, sha256, size = served_original(item, access.owner or reviewing)
    personal = access.owner and item.public_blob_key is not None
    headers = {
        **cache_headers(
            item,
            ctx.settings,
            f'"{sha256[:32]}"',
            access,
            personal,
            edge=EDGE_HEADER in request.headers,
        ),
        "Content-Disposition": _disposition(item),
        "Accept-Ranges": "bytes",
    }
    if (unchanged := not_modified_response(request, headers, item)) is not None:
        return unchanged
    # Behind the edge, an answer it will not cache is sent by the edge from the
    # file (the edge caches public ones from the body, so those come through).
    if (
        request.method == "GET"
        and not headers["Cache-Control"].startswith("public")
        and (prefix := sendfile_prefix(request, ctx.store)) is not None
    ):
        whole = "range" not in request.headers
        ctx.views.record(item.id, item.owner_id, "download" if whole else None, size)
        return accel_response(prefix, blob_key, headers, item.mime_type)
    status = 200
    start, end = 0, size
    if range_applies(headers["ETag"], item.created_at, request.headers.get("if-range")):
        try:
            wanted = parse_range(request.headers.get("range"), size)
        except Unsatisfiable:
            raise AppError(
                416,
                "range_not_satisfiable",
                f"The requested range is outside the {size}-byte file.",
                headers={"Content-Range": f"bytes */{size}"},
            ) from None
        if wanted is not None:
            status, start, end = 206, wanted.start, wanted.end
            headers["Content-Range"] = wanted.content_range(size)
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=item.mime_type)
    try:
        if end - start <= SMALL_BODY:
            if size <= SMALL_BODY:  # from memory after the first view
                data = await ctx.hot.read(ctx.store, blob_key)
                data = data if (start, end) == (0, size) else data[start:end]
            else:
                data = await ctx.store.read(blob_key, start, end)
            ctx.views.record(item.id, item.owner_id, "download" if start == 0 else None, len(data))
            return Response(data, status_code=status, headers=headers, media_type=item.mime_type)
        body = await ctx.store.get(blob_key, start, end)
        ctx.views.record(item.id, item.owner_id, "download" if start == 0 else None, end - start)
    except BlobNotFound:
        raise AppError(
            503, "blob_unavailable", "The image's bytes are temporarily unavailable."
        ) from None
    return StreamingResponse(body, status_code=status, headers=headers, media_type=item.mime_type)


@router.get("/images/{image_id}/metadata", response_model=ImageMetadataOut)
async def delivery_metadata(image_id: str, caller: Who, db: Db, reads: Reads) -> ImageMetadataOut:
    """Share-link grants and signed URLs (signed for this path) work here too."""
    image = await images.get_image(db, image_id)
    grants = await image_access(reads, caller, image, Action.VIEW_METADATA)
    assert image is not None
    return ImageMetadataOut.of(image, holds(grants, image, Level.OWNER))
