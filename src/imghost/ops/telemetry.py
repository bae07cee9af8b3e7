"""The outermost middleware: each request's id, and its line in the HTTP metrics.

- **Request id.** An incoming ``X-Request-Id`` is kept only from a trusted
  proxy (IMGHOST_TRUSTED_PROXIES; the connection's own peer, not the forwarded
  address) and only when well-formed (``request_ids.valid``); otherwise a new
  one is made. It is bound for the request (``request_ids``: log lines, the
  jobs the request queues) and sent back as ``X-Request-Id``.
- **Metrics.** One count and one duration per request, labelled with the
  route's template (``scope["route"]``, which FastAPI sets when it routes),
  the method and the status class (``metrics.http_request``: a no-op unless
  metrics are on).

Outermost, so that the duration and the status are those the client got, the
answers of every other middleware included.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imghost import metrics, request_ids
from imghost.proxies import PEER, TrustedPeers

HEADER = b"x-request-id"


class Telemetry:
    def __init__(self, app: ASGIApp, trusted_proxies: str) -> None:
        self.app = app
        self.trusted = TrustedPeers(trusted_proxies)

    def _request_id(self, scope: Scope) -> str:
        if self.trusted.any or self.trusted.networks:
            peer = scope.get(PEER)
            if peer and peer[0] in self.trusted:
                for name, value in scope["headers"]:
                    if name == HEADER:
                        incoming = str(value.decode("latin-1"))
                        if request_ids.valid(incoming):
                            return incoming
                        break
        return request_ids.new()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = self._request_id(scope)
        header = (HEADER, request_id.encode("ascii"))
        token = request_ids.bind(request_id)
        # Until an answer starts: a request that fails before one gets the
        # server's 500.
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A copy: a response may reuse its header list.
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_ids.reset(token)
            route = scope.get("route")
            template = getattr(route, "path", None) or metrics.UNROUTED
            metrics.http_request(template, scope["method"], status, time.perf_counter() - started)
