"""Shared by every delivery route: load the facts, decide access, cache headers."""

from __future__ import annotations

from fastapi import Request, Response

from imghost.auth.services import Actor, authenticate
from imghost.context import AppContext
from imghost.delivery.http import http_date, not_modified
from imghost.errors import NotFound
from imghost.images import services as images
from imghost.images.policy import check_bytes, check_visible
from imghost.images.services import DeliveryFacts


async def load_deliverable(ctx: AppContext, image_id: str) -> DeliveryFacts:
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


async def authorize(request: Request, ctx: AppContext, item: DeliveryFacts) -> bool:
    """Raise unless the caller may have the bytes; return whether they own the image.

    Credentials are only resolved when they matter (private, not ready, or an
    owner-only GPS original), so public views cost no auth lookup.
    """
    needs_caller = (
        item.visibility == "private" or item.status != "ready" or item.public_blob_key is not None
    )
    actor = await _caller(request, ctx) if needs_caller else None
    check_visible(actor, item.owner_id, item.visibility, item.status)
    check_bytes(item.status)
    return actor is not None and actor.user_id == item.owner_id


def cache_headers(
    item: DeliveryFacts, ctx: AppContext, etag: str, personal: bool = False
) -> dict[str, str]:
    """``personal``: this caller gets bytes others do not (the owner's GPS original),
    so no shared cache may keep them."""
    if personal or item.visibility == "private" or item.status != "ready":
        cache = "private, no-store"
    else:
        # Bytes under an id never change, but visibility can: keep max-age modest.
        cache = f"public, max-age={ctx.settings.public_max_age}"
    return {
        "ETag": etag,
        "Last-Modified": http_date(item.created_at),
        "Cache-Control": cache,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    }


def not_modified_response(
    request: Request, headers: dict[str, str], item: DeliveryFacts
) -> Response | None:
    """A 304 when the client's validators still match (If-None-Match wins)."""
    if not not_modified(
        headers["ETag"],
        item.created_at,
        request.headers.get("if-none-match"),
        request.headers.get("if-modified-since"),
    ):
        return None
    keep = ("ETag", "Last-Modified", "Cache-Control", "X-Content-Type-Options", "Vary")
    return Response(status_code=304, headers={k: headers[k] for k in keep if k in headers})
