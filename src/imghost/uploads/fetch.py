"""Fetching an image from a URL the caller names (``POST /v1/images {sourceUrl}``).

The URL is chosen by a user and requested by our server, so it goes through
the same guard as webhooks (``notifications.addresses``): every hop, the first
and each redirect's target, is resolved, refused if any of its addresses is
loopback, private, link-local or reserved, and then requested at the address
that was checked (no DNS rebinding between check and connect). Redirects are
followed by hand, at most ``IMGHOST_FETCH_MAX_REDIRECTS`` of them; no proxy
from the environment is used.

The body streams into a :class:`~imghost.uploads.spool.Spool` whose size cap
is enforced while reading, so a body larger than the file limit is cut off at
the limit whatever its Content-Length said. The whole fetch (every hop, the
body) runs under one deadline, ``IMGHOST_FETCH_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urldefrag, urljoin

import anyio
import httpx

from imghost import __version__
from imghost.errors import AppError
from imghost.notifications import addresses
from imghost.tls.contexts import client_context
from imghost.uploads.spool import Spool, TooLarge

USER_AGENT = f"imghost-fetch/{__version__}"
_REDIRECTS = (301, 302, 303, 307, 308)


class FetchLimits:
    """What one fetch may do: its deadline, its redirects, its size, its reach,
    and the CAs an https source is verified with (``IMGHOST_TLS_CA_FILE``)."""

    def __init__(
        self,
        *,
        timeout: float,
        max_redirects: int,
        max_size: int,
        allow_private: bool,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.max_size = max_size
        self.allow_private = allow_private
        self.tls = tls or client_context()


def too_large(limit: int) -> AppError:
    return AppError(
        413,
        "file_too_large",
        f"The file at sourceUrl is larger than the {limit / 1e6:.0f} MB limit.",
        limit=limit,
    )


async def fetch(url: str, spool: Spool, limits: FetchLimits) -> str | None:
    """Stream the resource at ``url`` into ``spool`` (finished on return);
    returns the file name its last URL ends with, if any. Every failure is an
    AppError: 422 for a URL that may not be fetched, 413 too large, 502 when
    the source fails, 504 when it is too slow."""
    try:
        async with asyncio.timeout(limits.timeout):
            final = await _fetch(url, spool, limits)
    except TimeoutError:
        raise AppError(
            504,
            "source_timeout",
            f"The file at sourceUrl did not arrive within {limits.timeout:g} seconds.",
        ) from None
    spool.finish()
    name = final.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name or None


async def _fetch(url: str, spool: Spool, limits: FetchLimits) -> str:
    # trust_env=False: no proxy from the environment may carry the request
    # elsewhere; redirects are followed below, each target checked again.
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, verify=limits.tls
    ) as client:
        for _ in range(limits.max_redirects + 1):
            # A fragment names a part of the answer, never sent: drop it.
            url = urldefrag(url).url
            pinned = await _target(url, limits.allow_private)
            headers = {
                "Host": pinned.host_header,
                "User-Agent": USER_AGENT,
                "Accept": "image/*",
                # The size cap counts the bytes as stored: ask for them as they are.
                "Accept-Encoding": "identity",
            }
            extensions = {"sni_hostname": pinned.server_name} if pinned.server_name else {}
            try:
                async with client.stream(
                    "GET", pinned.url, headers=headers, extensions=extensions
                ) as answer:
                    if answer.status_code in _REDIRECTS:
                        location = answer.headers.get("location")
                        if not location:
                            raise _upstream(f"answered {answer.status_code} without a Location")
                        url = urljoin(url, location)
                        continue
                    if not 200 <= answer.status_code < 300:
                        raise _upstream(f"answered {answer.status_code}")
                    declared = answer.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limits.max_size:
                        raise too_large(limits.max_size)
                    # Counted as it arrives: a Content-Length that lies changes nothing.
                    async for chunk in answer.aiter_bytes():
                        try:
                            await anyio.to_thread.run_sync(spool.write, chunk)
                        except TooLarge:
                            raise too_large(limits.max_size) from None
                    return url
            except httpx.HTTPError as exc:
                detail = str(exc) or type(exc).__name__
                raise AppError(
                    502,
                    "source_unreachable",
                    f"The file at sourceUrl could not be fetched: {detail}.",
                ) from None
    raise AppError(
        502,
        "too_many_redirects",
        f"sourceUrl redirected more than {limits.max_redirects} times.",
    )


async def _target(url: str, allow_private: bool) -> addresses.Target:
    """The checked, pinned address of one hop, or the problem that refuses it."""
    try:
        addresses.check_url_shape(url)
    except addresses.AddressRefused as exc:
        raise AppError(422, "invalid_source_url", f"sourceUrl: {exc}") from None
    try:
        return await addresses.target(url, allow_private)
    except addresses.Unresolvable as exc:
        raise AppError(502, "source_unreachable", f"sourceUrl: {exc}") from None
    except addresses.AddressRefused as exc:
        raise AppError(422, "source_address_not_allowed", f"sourceUrl: {exc}") from None


def _upstream(what: str) -> AppError:
    return AppError(502, "source_error", f"The server at sourceUrl {what}.")
