"""The plain-HTTP listener's application: every request is answered 308 to
the same path and query under the HTTPS base URL.

The target comes from the public base URL, never from the request's Host
header, so the answer cannot be pointed at another site. 308 keeps the method
(and body) of the retried request; the request's own body is never read. No
HSTS here: browsers ignore it over plain HTTP (RFC 6797 8.1); the HTTPS
answers carry it.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send


class RedirectToHttps:
    """ASGI app: 308 to ``base_url`` + the request's path and query."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def location(self, scope: Scope) -> str:
        # raw_path is the target as sent (percent-encoding kept).
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        target = raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
        return self.base_url + target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan and websockets: nothing to do
        headers = [
            (b"location", self.location(scope).encode("latin-1")),
            (b"content-length", b"0"),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
        ]
        await send({"type": "http.response.start", "status": 308, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
