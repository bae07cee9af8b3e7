"""uvicorn's httptools protocol with the limits httptools lacks.

:class:`LimitedHttpToolsProtocol` bounds a request head (URL bytes, header
bytes, header count), gives the client a fixed time to send it, and refuses
connections past a per-process cap, so that neither a few huge headers nor many
idle sockets can take the memory or the file handles of the process. The
server's config (``imghost.server``) hands it its :class:`HttpLimits`.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import weakref
from dataclasses import dataclass
from typing import Any

import httptools
import uvicorn
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from imghost.errors import PROBLEM_JSON
from imghost.proxies import PEER
from imghost.settings import Settings

# The server's logger: one name for everything the HTTP server says.
log = logging.getLogger("imghost.server")

# Seconds a rejected connection is still read (and the bytes dropped) after its
# answer, before it is closed: closing a socket with unread data sends a reset,
# and a client still sending its oversized head would lose the answer.
LINGER = 0.5


@dataclass(frozen=True)
class HttpLimits:
    """What one connection may cost before it has sent a whole request head."""

    max_url_bytes: int = 16 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_url_bytes=settings.max_url_bytes,
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout=settings.header_timeout,
            keepalive_timeout=settings.keepalive_timeout,
            max_connections=settings.max_connections,
        )

    @property
    def max_head_bytes(self) -> int:
        """The raw head as it arrives: request line, field lines, separators.

        httptools hands a header over only once it is complete, so one endless
        header would grow in its buffer unseen; this bound on the bytes read
        while the head is incomplete catches it (checked per read, the read in
        which the head began not counted, so a head costs at most this plus two
        read buffers).
        """
        return self.max_url_bytes + self.max_header_bytes + 4 * self.max_headers + 1024


def _response(status: int, code: str, detail: str, *extra: bytes) -> bytes:
    """A complete problem+json response that closes the connection."""
    phrase = http.HTTPStatus(status).phrase
    body = json.dumps(
        {
            "type": f"https://imghost.dev/problems/{code}",
            "title": phrase,
            "status": status,
            "code": code,
            "detail": detail,
        }
    ).encode()
    head = [
        f"HTTP/1.1 {status} {phrase}".encode(),
        f"content-type: {PROBLEM_JSON}".encode(),
        f"content-length: {len(body)}".encode(),
        b"x-content-type-options: nosniff",
        b"connection: close",
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


URI_TOO_LONG = _response(414, "uri_too_long", "The request URL is longer than this server accepts.")
HEADERS_TOO_LARGE = _response(
    431,
    "headers_too_large",
    "The request headers are larger, or more numerous, than this server accepts.",
)
HEADER_TIMEOUT = _response(
    408, "request_timeout", "The request headers did not arrive in time; the connection is closed."
)
SERVER_BUSY = _response(
    503,
    "server_busy",
    "The server has as many open connections as it accepts; try again shortly.",
    b"retry-after: 1",
)


class _Rejected(Exception):
    """Raised in a parser callback to stop parsing a head over a limit."""


class ConnectionGate:
    """One per server process: admits connections up to the cap.

    Refusals are logged once per burst (when the cap is reached, and again
    when the load has fallen clearly below it), never once per connection:
    a flood must not also flood the log.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.saturated = False
        self.refused = 0

    def admit(self, open_now: int) -> bool:
        if open_now < self.cap:
            return True
        self.refused += 1
        if not self.saturated:
            self.saturated = True
            log.warning(
                "connection cap reached: %d connections open in this process "
                "(IMGHOST_MAX_CONNECTIONS=%d); new connections are answered 503 and closed "
                "until some close",
                open_now,
                self.cap,
            )
        return False

    def released(self, open_now: int) -> None:
        # Below 90 % of the cap, so that a load hovering at the cap logs once.
        if self.saturated and open_now <= self.cap * 9 // 10:
            log.warning(
                "connections back under the cap (%d open); %d refused in that burst",
                open_now,
                self.refused,
            )
            self.saturated = False
            self.refused = 0


_GATES: weakref.WeakKeyDictionary[ServerState, ConnectionGate] = weakref.WeakKeyDictionary()


def _gate(state: ServerState, cap: int) -> ConnectionGate:
    gate = _GATES.get(state)
    if gate is None:
        gate = _GATES[state] = ConnectionGate(cap)
    return gate


class _EarlyAnswerCycle(RequestResponseCycle):
    """A request cycle whose answer says ``Connection: close`` when it starts
    before the request's body has all arrived.

    Such a connection is closed after the answer (see
    :meth:`LimitedHttpToolsProtocol.on_response_complete`); without the header a
    client pools it and loses the next request it sends on it (seen as a dropped
    POST after a 429 or 413 under load).
    """

    closes_early = False

    async def send(self, message: ASGISendEvent) -> None:
        if message["type"] != "http.response.start" or self.response_started or not self.more_body:
            await super().send(message)
            return
        self.closes_early = True
        keep_alive = self.keep_alive
        headers = [*message.get("headers", []), (b"connection", b"close")]
        await super().send({**message, "headers": headers})
        # uvicorn took the header as a reason to close abruptly when the answer
        # ends; the protocol closes it gently instead (half-close, then linger),
        # so the client reads the answer rather than a reset.
        self.keep_alive = keep_alive


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded request heads and a connection cap.

    The checks run in callbacks uvicorn already receives (the head's end, the
    message's start) and on the bytes read while a head is incomplete, so a normal
    request pays a few comparisons and one timer.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = getattr(config, "limits", None)
        self.limits = limits if isinstance(limits, HttpLimits) else HttpLimits()
        # call_later takes float seconds; uvicorn's Config only takes whole ones.
        self.timeout_keep_alive = self.limits.keepalive_timeout  # type: ignore[assignment]
        self.gate = _gate(server_state, self.limits.max_connections)
        self.refused = False
        self.rejection: bytes | None = None
        # Answered without its body read whole: the rest is dropped, then closed.
        self.draining = False
        self.header_timer: asyncio.TimerHandle | None = None
        # Per request head; a connection starts waiting for one.
        self.in_head = True
        self.head_deadline = 0.0  # loop time by which the head must be complete
        self.head_bytes = 0  # read for this head before the current chunk
        self.chunk_bytes = 0  # the chunk being parsed
        self.head_began = False  # this head began inside the chunk being parsed
        self.head_slack = 0  # bytes of head_bytes not held against the limit

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if not self.gate.admit(len(self.connections)):
            # Accepted only to be closed at once: the file handle is free again
            # before the next accept, so a flood never exhausts the process.
            self.refused = True
            self.transport = transport
            transport.write(SERVER_BUSY)
            transport.close()
            return
        super().connection_made(transport)
        # A connection that never sends a byte is cut by the header timer too.
        self.head_deadline = self.loop.time() + self.limits.header_timeout
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.refused:
            return
        self._cancel_header_timer()
        super().connection_lost(exc)
        self.gate.released(len(self.connections))

    def data_received(self, data: bytes) -> None:
        if self.refused or self.rejection is not None or self.draining:
            return
        self._unset_keepalive_if_required()
        self.chunk_bytes = len(data)
        self.head_began = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self.rejection is None:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            else:
                self._reject(self.rejection)
            return
        if self.in_head:
            # The head is still incomplete: httptools holds a header until it
            # ends, so its size is known only from the bytes read so far.
            self.head_bytes += len(data)
            if self.head_began:
                # How much of the read the head began in was the previous
                # request's body is unknown: held against the limit, all of
                # it refused a pipelined head behind a large body (431). It
                # is let off (one read: a few hundred KiB at most).
                self.head_slack = len(data)
            if self.head_bytes - self.head_slack > self.limits.max_head_bytes:
                too_long_url = len(self.url) > self.limits.max_url_bytes
                self._reject(URI_TOO_LONG if too_long_url else HEADERS_TOO_LARGE)

    # Parser callbacks: the checks run once per request, on the finished head,
    # rather than per header (measured: bench/http_protocol.py).

    def on_message_begin(self) -> None:
        if self.cycle is not None:
            # A later request on a kept-alive connection: its own time from its
            # first byte. (The first request's time runs from the connection.)
            self.head_deadline = self.loop.time() + self.limits.header_timeout
        super().on_message_begin()
        # Before proxy headers rewrite the client: who may set X-Request-Id.
        self.scope[PEER] = self.client  # type: ignore[literal-required]
        self.in_head = True
        self.head_bytes = 0
        self.head_slack = 0
        self.head_began = True
        if self.header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        # The header timer is left running: it re-arms itself or stops when it
        # fires, so a busy keep-alive connection costs one timer per timeout, not
        # one per request (a call_later and a cancel per request were measurable).
        self.in_head = False
        limits = self.limits
        if len(self.url) > limits.max_url_bytes:
            self._stop(URI_TOO_LONG)
        if len(self.headers) > limits.max_headers:
            self._stop(HEADERS_TOO_LARGE)
        # The head cannot be longer than the bytes read for it: add the fields
        # up only when that bound passes the limit.
        if self.head_bytes + self.chunk_bytes > limits.max_header_bytes:
            size = sum(len(name) + len(value) for name, value in self.headers)
            if size > limits.max_header_bytes:
                self._stop(HEADERS_TOO_LARGE)
        super().on_headers_complete()
        # The cycle uvicorn just made (started, or queued behind a pipelined
        # one; neither has run yet) is given the early-answer rule.
        self.cycle.__class__ = _EarlyAnswerCycle

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if isinstance(cycle, _EarlyAnswerCycle) and cycle.response_complete and cycle.closes_early:
            # Answered before the request's body had all arrived (401, 413, 429
            # ... to a body the app never read): the rest of it cannot be told
            # from a next request, and uvicorn would drop it while keeping the
            # connection alive, every byte resetting the keep-alive timer, so a
            # trickling body held the socket for ever (h11 calls this MUST_CLOSE).
            self.server_state.total_requests += 1
            self._close_after_answer()
            return
        super().on_response_complete()

    # Limits

    def _close_after_answer(self) -> None:
        """Close once the answer is out: a half-close first, and what still
        arrives is read and dropped for :data:`LINGER` seconds, so the client
        reads the answer rather than a reset."""
        self.draining = True
        self._cancel_header_timer()
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER, self.transport.close)
        else:
            self.transport.close()

    def _stop(self, response: bytes) -> None:
        self.rejection = response
        raise _Rejected

    def _reject(self, response: bytes) -> None:
        self.rejection = response  # data_received drops everything from now on
        self._cancel_header_timer()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head over a limit, or late, behind a response still being
            # sent: an answer now would interleave with that response, so only close.
            self.transport.close()
            return
        self.transport.write(response)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER, self.transport.close)
        else:
            self.transport.close()

    def _arm_header_timer(self) -> None:
        self.header_timer = self.loop.call_at(self.head_deadline, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timeout(self) -> None:
        self.header_timer = None
        if not self.in_head:
            return  # the head arrived; the next request arms the timer again
        if self.loop.time() < self.head_deadline:
            self._arm_header_timer()  # a later request's head, started since
            return
        self._reject(HEADER_TIMEOUT)
