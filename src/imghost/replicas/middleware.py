"""``MarkWriters``: after a signed-in caller's write succeeds, mark them sticky.

The mark is set before the answer's first byte leaves, so the caller's next
request, wherever it lands, already finds it. A write is an unsafe method
answered below 400 (handlers commit before they answer); the user is the one
the request's bearer credential resolved to, noted by ``deps`` in the holder
this middleware puts in the scope.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imghost.replicas.sticky import StickyWriters

SCOPE_KEY = "imghost.writer"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Writer:
    """The signed-in user of one unsafe request, once authenticated."""

    __slots__ = ("user_id",)

    def __init__(self) -> None:
        self.user_id: str | None = None


def note_writer(scope: Scope, user_id: str) -> None:
    """Called where a request's caller is authenticated (no-op for reads)."""
    writer = scope.get(SCOPE_KEY)
    if writer is not None:
        writer.user_id = user_id


class MarkWriters:
    """``writers``: the process's markers (built with the app's context, after this)."""

    def __init__(self, app: ASGIApp, writers: Callable[[], StickyWriters]) -> None:
        self.app = app
        self.writers = writers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        writer = Writer()
        scope[SCOPE_KEY] = writer

        async def send_marked(message: Message) -> None:
            if (
                message["type"] == "http.response.start"
                and message["status"] < 400
                and writer.user_id is not None
            ):
                await self.writers().mark(writer.user_id)
            await send(message)

        await self.app(scope, receive, send_marked)
