"""Shared by every delivery route: load the facts, decide access, cache headers."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from fastapi import Request, Response

from imghost.access.credentials import CredentialKeys, has_credentials, resolve_caller
from imghost.access.decide import image_access, owns
from imghost.access.policy import OPEN_VISIBILITIES, Action
from imghost.delivery import egress
from imghost.delivery.facts_cache import FactsCache
from imghost.delivery.http import http_date, not_modified
from imghost.errors import NotFound
from imghost.images import services as images
from imghost.images.policy import check_bytes
from imghost.images.services import DeliveryFacts
from imghost.reads import FastReader
from imghost.settings import Settings


async def load_deliverable(
    request: Request, reads: FastReader, cache: FactsCache, image_id: str
) -> DeliveryFacts:
    """The image's facts: this process's recent copy, or the database's when the
    request asks for a fresh answer. A conditional request (a browser or the edge
    revalidating) and ``Cache-Control: no-cache`` or ``max-age=0`` (the edge's
    fetches, a reload) are answered from the database, so what a shared cache
    stores, or keeps after revalidating, is never older than the request."""
    headers = request.headers
    fresh = (
        "if-none-match" in headers
        or "if-modified-since" in headers
        or _no_cache(headers.get("cache-control"))
    )
    item = None if fresh else cache.get(image_id)
    if item is None:
        item = await images.delivery_facts(reads, image_id)
        if item is None:
            raise NotFound("No such image.")
        cache.put(item)
    return item


def _no_cache(value: str | None) -> bool:
    if not value:
        return False
    directives = {part.strip().lower() for part in value.split(",")}
    return "no-cache" in directives or "max-age=0" in directives


@dataclass(frozen=True)
class Access:
    """How a request was allowed, which decides what may cache the answer."""

    owner: bool = False  # the uploader in person (may get their GPS original)
    credentialed: bool = False  # the answer depended on who asked
    signed_expires: int | None = None  # a signed URL: caches must not outlive it
    admin: bool = False  # a site admin (the one who may get quarantined bytes)


async def authorize(
    request: Request,
    keys: CredentialKeys,
    reads: FastReader,
    item: DeliveryFacts,
    action: Action,
) -> Access:
    """Raise unless the caller may do ``action``; say how they were allowed.

    A request without credentials for a public or unlisted, ready image is
    decided on the facts alone: the public hot path costs no auth lookup. A
    withheld one goes through the policy like any other (its 451 is decided
    there, for every path alike).

    For a public or unlisted image a bearer credential that does not verify is
    ignored (the request is answered as an anonymous one): a stale token that a
    browser, an app or a CDN keeps sending must not break public embeds, and the
    image is open to anyone anyway. A shared or private image keeps 401 ``invalid_token``,
    so a client learns that its token, not its rights, is the problem.
    """
    public = item.visibility in OPEN_VISIBILITIES
    open_to_all = public and item.status == "ready" and item.withheld is None
    if not has_credentials(request) and open_to_all:
        check_bytes(item.status)
        access = Access()
    else:
        caller = await resolve_caller(request, keys, ignore_invalid_bearer=public)
        grants = await image_access(reads, caller, item, action)
        check_bytes(item.status, grants.admin)
        credentialed = not public or item.status != "ready" or not caller.anonymous
        access = Access(owns(grants, item), credentialed, caller.signed_expires, grants.admin)
    # Hotlink protection and bandwidth budgets (403 / 429; the owner is never refused).
    if not await egress.admit(request, item, exempt=access.owner or access.admin):
        access = replace(access, credentialed=True)  # depends on Referer: no shared cache
    return access


EDGE_HEADER = "x-imghost-edge"


def cache_headers(
    item: DeliveryFacts,
    settings: Settings,
    etag: str,
    access: Access,
    personal: bool = False,
    *,
    edge: bool = False,
) -> dict[str, str]:
    """``personal``: this caller gets bytes others do not (the owner's GPS original).

    A public answer may be kept by browsers for IMGHOST_PUBLIC_MAX_AGE and by
    shared caches (the edge, a CDN) for IMGHOST_EDGE_MAX_AGE (``s-maxage``),
    after which they revalidate: a shared cache is where an image that stops
    being public must stop being served, and it cannot be told to forget.

    ``edge``: the request came from imghost's nginx edge. nginx counts
    ``s-maxage`` from the whole second it stored the answer and keeps it through
    the last one, so ``s-maxage=1`` lasts up to 2 s there; the edge gets the end
    of its lifetime as an absolute second instead (``X-Accel-Expires: @T``, which
    nginx keeps to itself), so it stops within IMGHOST_EDGE_MAX_AGE. The
    machines' clocks must agree (NTP).

    Credentialed answers, and every answer for a shared or private image, are
    never stored by shared caches: ``private`` with the signature's remaining
    lifetime for a signed URL, ``no-store`` otherwise (a revoked link or a
    visibility change must bite at once).
    """
    max_age = settings.public_max_age
    if access.signed_expires is not None and not personal:
        remaining = max(0, min(max_age, access.signed_expires - int(time.time())))
        cache = f"private, max-age={remaining}"
    elif personal or access.credentialed or item.visibility not in OPEN_VISIBILITIES:
        cache = "private, no-store"
    else:
        # Bytes under an id never change, but visibility can: keep max-age modest.
        cache = f"public, max-age={max_age}, s-maxage={min(settings.edge_max_age, max_age)}"
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(item.created_at),
        "Cache-Control": cache,
        # The owner gets other bytes (GPS) and private answers depend on the caller.
        "Vary": "Authorization",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    }
    if edge and cache.startswith("public") and settings.edge_max_age > 0:
        headers["X-Accel-Expires"] = f"@{int(time.time()) + settings.edge_max_age - 1}"
    return headers


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
    keep = (
        "ETag",
        "Last-Modified",
        "Cache-Control",
        "X-Content-Type-Options",
        "Vary",
        "X-Accel-Expires",
    )
    return Response(status_code=304, headers={k: headers[k] for k in keep if k in headers})
