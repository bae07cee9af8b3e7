"""Derivatives: presets at /images/{id}/{preset}.{ext}, transforms at /images/{id}/t/…

Stored renditions are served from the blob store; a missing one is rendered
on request (single-flight, bounded; see processing.ondemand) and stored, the
ones made only on request in the bounded rendition cache
(processing.rendition_cache), whose last-use times each hit updates in
batches. The URL grammar is documented in processing.variants and docs/API.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from imghost.access.policy import Action
from imghost.delivery.access import (
    EDGE_HEADER,
    authorize,
    cache_headers,
    load_deliverable,
    not_modified_response,
)
from imghost.delivery.lean import LeanRoute
from imghost.deps import Ctx
from imghost.errors import AppError, NotFound
from imghost.images.policy import derivatives_unavailable
from imghost.images.services import DeliveryFacts
from imghost.imaging.render import OutFormat, RenderSpec
from imghost.processing.rendition_cache import is_rendition
from imghost.processing.variants import (
    EXT_FORMAT,
    FORMAT_EXT,
    PRESET_EXTENSIONS,
    PRESETS,
    RENDER_VERSION,
    derived_key,
    negotiate,
    parse_transform,
    preset_render_spec,
)
from imghost.storage import BlobNotFound

# The hot path: no dependency solving (see delivery.lean).
router = APIRouter(tags=["delivery"], route_class=LeanRoute)

MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}


def _split(filename: str) -> tuple[str, str]:
    stem, dot, ext = filename.rpartition(".")
    if not dot or not stem:
        raise NotFound("There is nothing at this URL.")
    return stem, ext.lower()


@router.head("/images/{image_id}/{filename}", include_in_schema=False)
@router.get("/images/{image_id}/{filename}", response_class=Response)
async def preset(image_id: str, filename: str, request: Request, ctx: Ctx) -> Response:
    """A preset: thumb (256x256 crop), small (≤320), medium (≤1024), large (≤2048)."""
    name, ext = _split(filename)
    if name not in PRESETS or ext not in PRESET_EXTENSIONS:
        raise NotFound(
            f"No such derivative. Presets: {', '.join(PRESETS)}; "
            f"formats: {', '.join(PRESET_EXTENSIONS)}."
        )
    spec = preset_render_spec(name, ext)
    return await _serve(request, ctx, image_id, f"{name}.{ext}", spec, bounded=False)


@router.head("/images/{image_id}/t/{filename}", include_in_schema=False)
@router.get("/images/{image_id}/t/{filename}", response_class=Response)
async def transform(image_id: str, filename: str, request: Request, ctx: Ctx) -> Response:
    """On-demand transform: /images/{id}/t/w_640,h_360,c_cover,q_80.webp (or .auto)."""
    options, ext = _split(filename)
    vary = ext == "auto"
    fmt: OutFormat
    if vary:
        fmt = negotiate(request.headers.get("accept", ""))
    elif ext in EXT_FORMAT:
        fmt = EXT_FORMAT[ext]
    else:
        raise AppError(
            400,
            "invalid_transform",
            f"Unknown output format {ext!r}: use jpg, png, webp, avif or auto.",
        )
    parsed = parse_transform(options)
    name = f"t/{parsed.canonical()}.{FORMAT_EXT[fmt]}"
    return await _serve(request, ctx, image_id, name, parsed.spec(fmt), bounded=True, vary=vary)


async def _serve(
    request: Request,
    ctx: Ctx,
    image_id: str,
    name: str,
    spec: RenderSpec,
    *,
    bounded: bool,
    vary: bool = False,
) -> Response:
    item = await load_deliverable(request, ctx.reads, ctx.facts, image_id)
    access = await authorize(request, ctx.credentials, ctx.reads, item, Action.VIEW_DERIVATIVES)
    if item.status == "failed":
        raise derivatives_unavailable(item.id, item.failed_step, item.failed_code)
    etag = f'"{item.sha256[:20]}-r{RENDER_VERSION}-{name}"'
    headers = cache_headers(item, ctx.settings, etag, access, edge=EDGE_HEADER in request.headers)
    if vary:
        headers["Vary"] = "Accept, Authorization"
    if (unchanged := not_modified_response(request, headers, item)) is not None:
        return unchanged
    data = await _bytes(request, ctx, item, name, spec, bounded)
    if request.method == "GET":  # a HEAD renders the same bytes but sends none
        ctx.views.record(item.id, item.owner_id, "view", len(data))
    return Response(data, headers=headers, media_type=MIME[spec.format])


async def _bytes(
    request: Request,
    ctx: Ctx,
    item: DeliveryFacts,
    name: str,
    spec: RenderSpec,
    bounded: bool,
) -> bytes:
    key = derived_key(item.blob_key, name)
    try:
        data = await ctx.hot.read(ctx.store, key)
    except BlobNotFound:
        pass
    else:
        if is_rendition(key):
            ctx.renderer.cache.used(key)  # least recently used go first
        return data
    client = request.client.host if request.client else "unknown"
    # The renderer picks what it is made from: the smallest preset that is
    # large enough, or the original (see processing.render_source).
    return await ctx.renderer.render(
        image=item,
        target_key=key,
        spec=spec,
        client=client,
        bounded=bounded,
    )
