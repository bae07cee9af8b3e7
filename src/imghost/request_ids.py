"""The id of the request being handled, held in a context variable.

The telemetry middleware (``ops.telemetry``) binds it for each request: the
incoming ``X-Request-Id`` when a trusted proxy sent a well-formed one, or a
new random id. A job queued while handling the request records it
(``jobs.queue.enqueue``), and the worker binds it again while it runs that
job, so every log line of the work a request caused carries one id
(``logs``), across processes.

A context variable rather than a parameter: the id belongs to log lines
written deep inside features that know nothing of requests, and asyncio gives
each request's task (and each job slot) its own copy.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar, Token

# Letters, digits and a few separators: what proxies generate (nginx's
# $request_id is 32 hex digits, others use UUIDs). Anything else (spaces,
# quotes, newlines) would let a caller write into our log lines.
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_current: ContextVar[str | None] = ContextVar("imghost_request_id", default=None)


def current() -> str | None:
    """The id of the request (or of the job's request) this code runs for."""
    return _current.get()


def bind(request_id: str | None) -> Token[str | None]:
    """Make ``request_id`` current until :func:`reset` with the token."""
    return _current.set(request_id)


def reset(token: Token[str | None]) -> None:
    _current.reset(token)


def new() -> str:
    """A fresh id: 128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


def valid(raw: str) -> bool:
    """Whether an incoming id may be kept as it is."""
    return _VALID.fullmatch(raw) is not None
