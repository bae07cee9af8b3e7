"""The ASGI middleware that applies per-user rate limits to uploads and views.

Order of checks for a limited request (:mod:`imghost.ratelimit.routes`):

1. Who pays (:mod:`imghost.ratelimit.identity`): the user, by plan, or the
   client address for anonymous callers.
2. The request count (``uploads`` or ``views``) is hit before the body is
   read; over the limit → 429 at once.
3. Upload bytes: the declared length (``Content-Length``, tus
   ``Upload-Length`` at creation, a presigned upload's ``size``) is checked
   against what is left of the window before the body is read; if it does
   not fit → 429 without reading it (a declaration beyond the server's own
   size limits is left to the route, whose 413 says more). The bytes that actually arrive are then
   counted as they stream (every MiB and at the end of the body), so a broken
   upload costs only what was sent. A request that was let in is never cut
   off mid-body: a body with no declared length, or concurrent uploads, can
   overshoot the budget by what they carry (each capped by
   ``IMGHOST_MAX_BATCH_SIZE``), and the next request gets the 429.

Answers of limited routes carry ``RateLimit-Limit``, ``RateLimit-Remaining``,
``RateLimit-Reset`` (seconds) and ``RateLimit-Policy`` (``60;w=60``) of the
request-count limit (of the byte budget on ``PATCH /v1/tus/{id}``); a 429
carries those of the limit that was exceeded, ``Retry-After``, and a
problem+json body with ``code: rate_limited``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imghost.errors import AppError, problem
from imghost.ratelimit.counters import Counters, Window
from imghost.ratelimit.identity import DEFAULT_PLAN, Identities, Identity, client_address
from imghost.ratelimit.routes import BodyCount, Route, classify
from imghost.ratelimit.rules import PlanRules, Rule, parse_rules
from imghost.ratelimit.services import BYTE_METER, ByteMeter
from imghost.settings import Settings
from imghost.units import human_bytes
from imghost.uploads.schemas import UploadIn

log = logging.getLogger(__name__)

CHARGE_STEP = 1024 * 1024  # bytes received between two charges of the byte budget
_MAX_JSON_PEEK = 64 * 1024  # a presigned upload's JSON body is far smaller
HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _int_header(scope: Scope, name: bytes) -> int | None:
    raw = _header(scope, name)
    # isascii: "²".isdigit() is true and int("²") raises; the route says 400.
    if raw is None or not raw.strip().isascii() or not raw.strip().isdigit():
        return None
    return int(raw.strip())


def _counted(rule: Rule, who: Identity) -> str:
    """The counter of this limit for this caller: by category too, since the
    ``limits`` key names only identity, amount and period (``uploads`` and
    ``views`` of the same size would share one count)."""
    return f"{rule.category}:{who.key}"


def limit_headers(rule: Rule, window: Window, now: float | None = None) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(rule.item.amount),
        "RateLimit-Remaining": str(window.remaining(rule.item)),
        "RateLimit-Reset": str(window.reset_in(now) if window.count else 0),
        "RateLimit-Policy": f"{rule.item.amount};w={rule.window}",
    }


def _reason(rule: Rule, who: Identity, window: Window, declared: int | None) -> str:
    per = rule.describe_window()
    whose = (
        "from your address without signing in"
        if who.anonymous
        else f"on your plan ({who.plan or DEFAULT_PLAN})"
    )
    amount = rule.item.amount
    if rule.category == "upload_bytes":
        left = human_bytes(window.remaining(rule.item))
        size = f" and this upload is {human_bytes(declared)}" if declared else ""
        return (
            f"Upload limit reached: {human_bytes(amount)} of uploads per {per} are allowed "
            f"{whose}; {left} remain{size}."
        )
    if rule.category == "uploads":
        return f"Too many uploads: {amount} per {per} are allowed {whose}."
    return f"Too many image requests: {amount} views and downloads per {per} are allowed {whose}."


class RateLimits:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.enabled = settings.rate_limits_enabled
        self.plans: dict[str, PlanRules] = {
            "free": parse_rules(settings.rate_limits_free),
            "premium": parse_rules(settings.rate_limits_premium),
        }
        self.anonymous = parse_rules(settings.rate_limits_anonymous)
        self.counters = Counters(settings.redis_url if self.enabled else "")
        self.identities = Identities(settings.secret_key)
        # Larger declarations are the routes' to refuse (413, a truer answer
        # than 429: waiting would not help).
        self.max_file = settings.max_file_size
        self.max_body = settings.max_batch_size

    def rules_for(self, who: Identity) -> PlanRules:
        if who.anonymous:
            return self.anonymous
        return self.plans.get(who.plan or DEFAULT_PLAN, self.plans[DEFAULT_PLAN])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_send(send))
            return
        route = classify(scope["method"], scope["path"]) if scope["type"] == "http" else None
        ctx = getattr(scope["app"].state, "ctx", None) if route is not None else None
        if route is None or ctx is None or not self.enabled:
            await self.app(scope, receive, send)
            return
        try:
            who = await self.identities.resolve(scope, ctx.reads)
        except (SQLAlchemyError, OSError) as exc:
            # The database is having trouble; the route will say so. Meanwhile
            # the request counts against its address.
            log.warning("rate limits: could not resolve the caller (%s)", exc)
            who = Identity(f"ip:{client_address(scope)}", None, None)
        await self._limited(scope, receive, send, route, who)

    def _closing_send(self, send: Send) -> Send:
        async def closing_send(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.counters.close()
            await send(message)

        return closing_send

    async def _limited(
        self, scope: Scope, receive: Receive, send: Send, route: Route, who: Identity
    ) -> None:
        rules = self.rules_for(who)
        shown: tuple[Rule, Window] | None = None
        if route.counts is not None and (rule := rules.get(route.counts)) is not None:
            window = await self.counters.incr(rule.item, _counted(rule, who), 1)
            if window.count > rule.item.amount:
                await self._reject(scope, receive, send, rule, who, window, None)
                return
            shown = (rule, window)

        budget = rules.get("upload_bytes")
        body = _body_count(route, scope)
        if budget is not None and route.body == "multipart" and body == "none":
            # JSON to POST /v1/images: a finalize (its bytes were counted at
            # presign) or an upload from a URL, which charges what it fetched.
            scope[BYTE_METER] = self._byte_meter(budget, who)
        if budget is None or body == "none":
            await self.app(scope, receive, self._headers_send(send, shown))
            return

        declared: int | None
        if body == "declared":
            receive, declared, oversized = await _peek_declared_size(receive)
            if oversized:
                # A presigned upload's JSON is tiny; a huge one would hide its size.
                response = problem(
                    413,
                    "body_too_large",
                    "This request body is larger than an upload request can be "
                    f"({human_bytes(_MAX_JSON_PEEK)}).",
                    instance=scope["path"],
                )
                await response(scope, receive, send)
                return
            if declared is not None and declared > self.max_file:
                declared = None
        else:
            declared = _int_header(scope, b"content-length")
            if declared is not None and declared > self.max_body:
                declared = None
            if route.tus_create:
                length = _int_header(scope, b"upload-length")
                # An upload larger than a whole window's budget can still
                # arrive over several windows, PATCH by PATCH: not refused here.
                if length is not None and length <= min(budget.item.amount, self.max_file):
                    declared = max(declared or 0, length)
        if declared:
            window = await self.counters.peek(budget.item, _counted(budget, who))
            if window.count + declared > budget.item.amount:
                await self._reject(scope, receive, send, budget, who, window, declared)
                return
        if body == "declared":
            await self.app(
                scope, receive, self._charge_on_success(send, shown, budget, who, declared)
            )
        else:
            await self._stream(scope, receive, send, shown, budget, who)

    def _headers_send(self, send: Send, shown: tuple[Rule, Window] | None) -> Send:
        if shown is None:
            return send

        async def headers_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(limit_headers(*shown))
            await send(message)

        return headers_send

    def _charge_on_success(
        self,
        send: Send,
        shown: tuple[Rule, Window] | None,
        budget: Rule,
        who: Identity,
        declared: int | None,
    ) -> Send:
        async def charging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if declared and 200 <= message["status"] < 300:
                    await self.counters.incr(budget.item, _counted(budget, who), declared)
                if shown is not None:
                    MutableHeaders(scope=message).update(limit_headers(*shown))
            await send(message)

        return charging_send

    async def _stream(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        shown: tuple[Rule, Window] | None,
        budget: Rule,
        who: Identity,
    ) -> None:
        pending = 0
        last: Window | None = None

        async def charge() -> None:
            nonlocal pending, last
            if pending:
                amount, pending = pending, 0
                last = await self.counters.incr(budget.item, _counted(budget, who), amount)

        async def counting_receive() -> Message:
            nonlocal pending
            message = await receive()
            if message["type"] == "http.request":
                pending += len(message.get("body", b""))
                if pending >= CHARGE_STEP or not message.get("more_body", False):
                    await charge()
            return message

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await charge()
                headers = MutableHeaders(scope=message)
                if shown is not None:
                    headers.update(limit_headers(*shown))
                else:
                    window = last or await self.counters.peek(budget.item, _counted(budget, who))
                    headers.update(limit_headers(budget, window))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            await charge()  # bytes read by a handler that then failed still count

    async def _reject(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        rule: Rule,
        who: Identity,
        window: Window,
        declared: int | None,
    ) -> None:
        refused = _refusal(rule, who, window, declared)
        response = problem(
            refused.status,
            refused.code,
            refused.detail,
            instance=scope["path"],
            headers=refused.headers,
            **refused.extra,
        )
        await response(scope, receive, send)

    def _byte_meter(self, budget: Rule, who: Identity) -> ByteMeter:
        """Charges the byte budget for bytes a route brings in other than through
        its body (an upload from a URL), once it knows how many; 429 over it."""

        async def meter(amount: int) -> None:
            key = _counted(budget, who)
            window = await self.counters.peek(budget.item, key)
            if window.count + amount > budget.item.amount:
                raise _refusal(budget, who, window, amount)
            await self.counters.incr(budget.item, key, amount)

        return meter


def _body_count(route: Route, scope: Scope) -> BodyCount:
    """How the request's body counts: POST /v1/images streams a multipart body,
    and its JSON (finalize, sourceUrl) brings no bytes of its own."""
    if route.body != "multipart":
        return route.body
    content_type = _header(scope, b"content-type") or ""
    return "stream" if content_type.startswith("multipart/form-data") else "none"


def _refusal(rule: Rule, who: Identity, window: Window, declared: int | None) -> AppError:
    """The 429 of a limit that is reached (or that ``declared`` bytes would pass)."""
    now = time.time()
    retry = window.reset_in(now) if window.count else rule.window
    reason = _reason(rule, who, window, declared)
    if declared is not None and declared > rule.item.amount:
        detail = (
            f"This upload ({human_bytes(declared)}) is larger than the whole upload "
            f"budget of {human_bytes(rule.item.amount)} per {rule.describe_window()}: "
            "send it in smaller parts (tus PATCH requests), one window after another."
        )
    else:
        detail = f"{reason} Try again in {retry} seconds."
    headers = limit_headers(rule, window, now)
    headers["RateLimit-Remaining"] = "0"
    headers["RateLimit-Reset"] = str(retry)
    headers["Retry-After"] = str(retry)
    return AppError(
        429, "rate_limited", detail, headers=headers, category=rule.category, retryAfter=retry
    )


async def _peek_declared_size(receive: Receive) -> tuple[Receive, int | None, bool]:
    """Read a small JSON body to learn its ``size`` as the route will (its own
    schema, so "900" or 9e2 count too); hand the same messages on. Also says
    whether the body is over ``_MAX_JSON_PEEK``."""
    messages: list[Message] = []
    total = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        total += len(message.get("body", b""))
        if not message.get("more_body", False) or total > _MAX_JSON_PEEK:
            break
    declared: int | None = None
    if total <= _MAX_JSON_PEEK:
        raw = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        try:
            size = UploadIn.model_validate_json(raw).size
        except ValueError:  # pydantic's ValidationError; the route answers 422
            size = None
        if size is not None and size > 0:
            declared = size

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    replayed: Callable[[], Awaitable[Message]] = replay
    return replayed, declared, total > _MAX_JSON_PEEK
