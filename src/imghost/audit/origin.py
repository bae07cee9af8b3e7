"""Where the current change comes from: the request's client address and user
agent, or the command line. Held in a context variable, set once per request
by :class:`AuditOrigin` (installed by the app) and per command by the CLI, so
the services that record events need no request threaded through them."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class Origin:
    address: str | None = None
    user_agent: str | None = None
    # "cli" for the admin commands; None: decided by the event's actor.
    actor_kind: str | None = None


NOWHERE = Origin()
_current: contextvars.ContextVar[Origin | None] = contextvars.ContextVar(
    "audit_origin", default=None
)
# The request being served: read only when an event is recorded, so the
# requests that record nothing (nearly all of them) pay one context-variable set.
_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("audit_scope", default=None)


def current() -> Origin:
    explicit = _current.get()
    if explicit is not None:
        return explicit
    scope = _scope.get()
    return NOWHERE if scope is None else of_scope(scope)


def of_scope(scope: Scope) -> Origin:
    client = scope.get("client")
    agent = None
    for name, value in scope.get("headers") or ():
        if name == b"user-agent":
            agent = value.decode("latin-1")
            break
    return Origin(
        address=str(client[0])[:64] if client else None,
        user_agent=agent[:200] if agent else None,
    )


@contextlib.contextmanager
def acting(origin: Origin) -> Iterator[None]:
    """Record the events of the block as coming from ``origin``."""
    token = _current.set(origin)
    try:
        yield
    finally:
        _current.reset(token)


class AuditOrigin:
    """ASGI middleware: each HTTP request's origin, for the events it records.
    Inside the proxy handling, so the address is the client's, not a proxy's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _scope.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _scope.reset(token)
