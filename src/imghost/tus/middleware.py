"""Protocol plumbing for /v1/tus/ that no single route can do.

- ``X-HTTP-Method-Override``: clients behind proxies that only pass GET and
  POST send ``POST`` with the real method in this header; tus asks servers
  to honour it, so the method is rewritten before routing.
- ``Tus-Resumable`` on every response, problem responses and 404s included.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imghost.tus.protocol import VERSION

PREFIX = "/v1/tus"
_OVERRIDABLE = {"PATCH", "DELETE", "HEAD", "OPTIONS", "GET"}


class TusProtocol:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST":
            for name, value in scope["headers"]:
                if name == b"x-http-method-override":
                    method = value.decode("latin-1").strip().upper()
                    if method in _OVERRIDABLE:
                        scope = {**scope, "method": method}
                    break

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Tus-Resumable"] = VERSION
            await send(message)

        await self.app(scope, receive, send_with_version)
