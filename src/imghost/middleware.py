"""Refuse request targets that no handler could use safely.

A percent-encoded NUL or invalid UTF-8 in the path or query string would
otherwise reach the database as an id or a filter (PostgreSQL rejects NUL in
text with an error). Checking once here protects every route.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from imghost.errors import problem


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
