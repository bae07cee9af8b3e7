"""Request bodies are bounded in size and in time before any route reads them.

:class:`BodyLimits` wraps the ASGI ``receive`` of every HTTP request:

- **Size.** FastAPI reads and parses a declared body (JSON, forms) before a
  route's dependencies run, so a limit inside a route comes too late: a 400 MB
  JSON body to ``POST /v1/auth/signup`` was parsed without a login. Every
  route that is not an upload takes at most ``IMGHOST_MAX_JSON_BODY`` bytes:
  a larger ``Content-Length`` is answered 413 ``body_too_large`` before the
  app runs, and a body without one is cut off as soon as the count passes it.
  The upload routes (:func:`is_upload`) keep their own, larger limits
  (``IMGHOST_MAX_FILE_SIZE``, ``IMGHOST_MAX_BATCH_SIZE``, a tus upload's
  length), enforced as they stream. They are recognised by method and path,
  never by content type, which the client chooses.
- **Time.** A body that sends nothing for ``IMGHOST_BODY_IDLE_TIMEOUT``
  seconds, or that averages less than ``IMGHOST_BODY_MIN_RATE`` bytes per
  second once that much time has passed, is answered 408 ``body_timeout``: a
  trickling client cannot hold a worker, a spool file or an upload slot for
  ever. The minimum rate is what stops a trickle of one byte every few
  seconds, which an idle timeout alone lets through.

When a limit trips, the wrapped ``receive`` raises :class:`BodyTimeout` or
:class:`BodyTooLarge`, and raises it again on every later call, so a route
stops reading and cleans up as for a broken connection (a direct upload
removes its spool files; a tus PATCH keeps what arrived, see
``tus/receive.py``). Whatever the app then answers, the client gets the
limit's problem, unless the app already answered with the same status (tus
says how to resume).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anyio
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imghost import metrics
from imghost.errors import AppError, problem
from imghost.ratelimit.routes import is_upload
from imghost.settings import BodySettings, Settings, SettingsError
from imghost.units import human_bytes

log = logging.getLogger(__name__)


class BodyTimeout(AppError):
    def __init__(self, idle: float, min_rate: int) -> None:
        rate = f" or averaged less than {min_rate} bytes per second" if min_rate else ""
        super().__init__(
            408,
            "body_timeout",
            f"The request body sent nothing for {idle:g} seconds{rate}, so the request "
            "was ended; send it again.",
        )


class BodyTooLarge(AppError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            "body_too_large",
            f"This request body is larger than the {human_bytes(limit)} this URL accepts.",
            limit=limit,
        )


@dataclass
class _Body:
    """One request's body so far."""

    started: float
    limit: int | None
    received: int = 0
    complete: bool = False
    error: AppError | None = None


def _has_body(scope: Scope) -> bool:
    """An HTTP/1.1 request without Content-Length or Transfer-Encoding has no
    body (RFC 9112 6.3): views, the hot path, pass through unwrapped."""
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"])


def content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The request's declared body length (raw ASGI headers), or None.

    ASCII digits only: the HTTP server refuses anything else before the app
    runs, so anything else is treated as undeclared here."""
    for name, value in headers:
        if name == b"content-length":
            value = value.strip()
            return int(value) if value.isdigit() and value.isascii() else None
    return None


def check_settings(settings: BodySettings) -> None:
    """Raise SettingsError naming the first body or database-wait setting that cannot be used."""
    for name in ("body_idle_timeout", "db_pool_timeout"):
        if not 0 < getattr(settings, name) < float("inf"):  # also refuses NaN
            raise SettingsError(f"IMGHOST_{name.upper()} must be a positive number")
    if settings.body_min_rate < 0:
        raise SettingsError("IMGHOST_BODY_MIN_RATE cannot be negative")
    if settings.max_json_body <= 0:
        raise SettingsError("IMGHOST_MAX_JSON_BODY must be positive")


class BodyLimits:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.idle = settings.body_idle_timeout
        self.min_rate = settings.body_min_rate
        self.max_json = settings.max_json_body

    def _wait(self, body: _Body) -> float:
        """Seconds the next chunk may take: the idle timeout, or less if the
        body would fall below the minimum rate (after a grace period of one
        idle timeout, so a slow start is no failure)."""
        wait = self.idle
        if self.min_rate:
            due = body.started + self.idle + body.received / self.min_rate
            wait = min(wait, due - time.monotonic())
        return wait

    # mccabe counts the branches of the receive and send wrappers here; they
    # are closures because they share one body's state with each other.
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: C901
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        limit = None if is_upload(scope["method"], scope["path"]) else self.max_json
        if limit is not None and (content_length(scope["headers"]) or 0) > limit:
            await _problem(BodyTooLarge(limit), scope)(scope, receive, send)
            return
        body = _Body(time.monotonic(), limit)

        async def limited_receive() -> Message:
            if body.error is not None:
                raise body.error
            if body.complete:
                # Only http.disconnect is left to wait for: no deadline.
                return await receive()
            message: Message | None = None
            with anyio.move_on_after(max(self._wait(body), 0)):
                message = await receive()
            if message is None:
                body.error = BodyTimeout(self.idle, self.min_rate)
                raise body.error
            if message["type"] == "http.request":
                body.received += len(message.get("body", b""))
                body.complete = not message.get("more_body", False)
                if body.limit is not None and body.received > body.limit:
                    body.error = BodyTooLarge(body.limit)
                    raise body.error
            return message

        replaced = started = False

        async def limited_send(message: Message) -> None:
            nonlocal replaced, started
            if replaced:
                return  # the app's own answer, after ours was sent instead
            if message["type"] == "http.response.start":
                started = True
                error = body.error
                if error is not None and message["status"] != error.status:
                    replaced = True
                    await _problem(error, scope)(scope, receive, send)
                    return
                if error is not None:
                    # The rest of the body was never read: the connection
                    # cannot carry another request.
                    MutableHeaders(scope=message)["Connection"] = "close"
            await send(message)

        try:
            await self.app(scope, limited_receive, limited_send)
        except Exception:
            if body.error is None or started:
                raise
            # The app failed on the limit's error (or on what followed it):
            # the limit's problem is the answer, the failure worth a trace.
            log.debug(
                "%s %s failed after a body limit", scope["method"], scope["path"], exc_info=True
            )
            await _problem(body.error, scope)(scope, receive, send)
        finally:
            if limit is None:
                metrics.upload_bytes(_upload_kind(scope["path"]), body.received)


def _upload_kind(path: str) -> str:
    """The metrics' name of an upload route (``is_upload``): tus PATCHes and
    creations, the local target of a presigned upload, or a direct upload."""
    if path.startswith("/v1/tus"):
        return "tus"
    return "presigned" if path.startswith("/v1/uploads/") else "direct"


def _problem(error: AppError, scope: Scope) -> ASGIApp:
    return problem(
        error.status,
        error.code,
        error.detail,
        instance=scope["path"],
        headers={**error.headers, "Connection": "close"},
        **error.extra,
    )
