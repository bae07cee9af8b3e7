"""ASGI middleware that guards every route.

- :class:`RejectUnsafeTargets`: a percent-encoded NUL or invalid UTF-8 in the
  path or query string would otherwise reach the database as an id or a
  filter (PostgreSQL rejects NUL in text). Checking once here covers all routes.
- :class:`UnexpectedErrors`: a bug answers 500 problem+json and is logged,
  without letting the exception reach the server, which would drop the
  keep-alive connection under the client's next request.
- :class:`PrivateByDefault`: JSON answers that set no caching policy are
  ``private, no-store`` and vary on ``Authorization``: most depend on who
  asks, and a shared cache must never hand one caller's answer to another.
- :class:`SecurityHeaders`: ``nosniff`` on every answer (problem+json from
  any layer included), and on HTML pages a Content-Security-Policy (unless
  the page set its own), no framing and no Referer.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote_to_bytes

from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imghost.errors import problem

log = logging.getLogger(__name__)


def _bad(raw: bytes) -> bool:
    decoded = unquote_to_bytes(raw)
    if b"\x00" in decoded:
        return True
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


class RejectUnsafeTargets:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            if _bad(raw_path) or _bad(scope.get("query_string", b"")):
                response = problem(
                    400,
                    "invalid_characters",
                    "The URL contains a NUL byte or invalid UTF-8.",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class UnexpectedErrors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            # The client hung up mid-body: no one is left to answer, and it is
            # not our error (the routes' own cleanup has already run).
            log.debug("client left during %s %s", scope.get("method"), scope.get("path"))
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for a clean answer: let the server close the stream
            response = problem(
                500,
                "internal_error",
                "Something went wrong on our side; the request was not completed.",
                instance=scope.get("path"),
            )
            await response(scope, receive, send)


class ApiCors:
    """CORS for the JSON API and tus (``/v1/``), not for delivery URLs.

    Starlette's CORS adds ``Vary: Origin`` to every response; on image bytes
    that would split a CDN's cache by the pages embedding them, and ``<img>``
    tags need no CORS. Bearer tokens, never cookies: allowing any origin
    exposes no one's session.
    """

    def __init__(self, app: ASGIApp, origins: str, expose: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=[o.strip() for o in origins.split(",") if o.strip()],
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=expose,
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


# HTML pages that set no policy of their own (the UI and /s/ set theirs).
PAGE_CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# FastAPI's /docs (Swagger UI) and /redoc load their code from a CDN and start
# it with an inline script. They show no user content (only openapi.json), so
# inline script is allowed there and nowhere else.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


class ResponseHeaders:
    """Headers every answer needs, added once on the way out (outermost).

    - ``X-Content-Type-Options: nosniff`` on every answer: a browser must never
      guess a type (an error body or an image taken for HTML would run as a
      page of ours).
    - JSON without a caching policy is ``private, no-store`` with ``Vary:
      Authorization``: what a signed-in caller sees must not be cached for
      another.
    - HTML pages get a CSP (unless they set their own), ``X-Frame-Options`` and
      ``Referrer-Policy: no-referrer`` (share-link URLs are secrets).
    - ``Strict-Transport-Security: <hsts>`` on every answer when ``hsts`` is
      given (the server speaks TLS itself: ``imghost.server_tls.hsts_header``).

    One pass over the raw headers: it runs on every answer, the delivery hot
    path included.
    """

    def __init__(self, app: ASGIApp, hsts: str = "") -> None:
        self.app = app
        self.hsts = hsts.encode("latin-1") if hsts else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def headed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_headers(message, scope["path"])
                if self.hsts:
                    message["headers"].append((b"strict-transport-security", self.hsts))
            await send(message)

        await self.app(scope, receive, headed_send)


def _add_headers(message: Message, path: str) -> None:
    raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
    content_type = b""
    present: set[bytes] = set()
    for name, value in raw:
        lower = name.lower()
        present.add(lower)
        if lower == b"content-type":
            content_type = value
    if b"x-content-type-options" not in present:
        raw.append((b"x-content-type-options", b"nosniff"))
    if content_type.startswith((b"application/json", b"application/problem+json")):
        if b"cache-control" not in present:
            raw.append((b"cache-control", b"private, no-store"))
            message["headers"] = raw
            MutableHeaders(scope=message).add_vary_header("Authorization")
            return
    elif content_type.startswith(b"text/html"):
        policy = DOCS_CSP if path in DOCS_PATHS else PAGE_CSP
        for name, value in (
            (b"content-security-policy", policy.encode()),
            (b"x-frame-options", b"DENY"),  # older browsers
            (b"referrer-policy", b"no-referrer"),
        ):
            if name not in present:
                raw.append((name, value))
    message["headers"] = raw
