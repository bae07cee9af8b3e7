"""Real servers on loopback that notifications are delivered to.

- :class:`SmtpSink`: aiosmtpd; keeps every message (but, unless told, the
  sign-up's verification e-mail); can refuse the first N with a temporary
  error (451). Given a TLS context, it offers and requires STARTTLS, or with
  ``implicit`` speaks TLS from the start (smtps).
- :class:`WebhookReceiver`: an ``http.server`` thread; answers a scripted
  list of statuses (``"drop"`` closes the connection without an answer), then
  200; records every request with its arrival time. Given a TLS context, it
  is an HTTPS receiver.
"""

from __future__ import annotations

import email
import email.policy
import http.server
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from imghost.testing.servers import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    encrypted: bool = False  # the session ran over TLS (STARTTLS or smtps)


class _SmtpHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        if str(parsed["Subject"]) in self.sink.ignore_subjects:
            return "250 Message accepted for delivery"  # neither kept nor counted
        with self.sink.lock:
            self.sink.attempts += 1
            if self.sink.fail_first > 0:
                self.sink.fail_first -= 1
                return "451 4.3.0 Try again later (test sink)"
            self.sink.messages.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    parsed,
                    # Over TLS whether it began so (smtps) or after STARTTLS.
                    encrypted=server.transport.get_extra_info("sslcontext") is not None,
                )
            )
        return "250 Message accepted for delivery"


# Every sign-up is sent one: tests of other mail leave it out of their counts.
VERIFICATION_SUBJECT = "[imghost] Verify your e-mail address"


class SmtpSink:
    def __init__(
        self,
        fail_first: int = 0,
        ignore_subjects: tuple[str, ...] = (VERIFICATION_SUBJECT,),
        tls: ssl.SSLContext | None = None,
        implicit: bool = False,
    ) -> None:
        self.port = free_port()
        self.fail_first = fail_first
        self.ignore_subjects = ignore_subjects
        self.attempts = 0
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.tls, self.implicit = tls, implicit
        options: dict[str, Any] = {}
        if tls is not None and implicit:
            options["ssl_context"] = tls
        elif tls is not None:
            options.update(tls_context=tls, require_starttls=True)
        self.controller = Controller(
            _SmtpHandler(self), hostname="127.0.0.1", port=self.port, **options
        )

    @property
    def url(self) -> str:
        if self.tls is None:
            return f"smtp://127.0.0.1:{self.port}?starttls=false"
        if self.implicit:
            return f"smtps://127.0.0.1:{self.port}"
        return f"smtp://127.0.0.1:{self.port}?starttls=true"

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} messages after {timeout}s, wanted {count}")


@dataclass
class Request:
    at: float  # time.monotonic() when it arrived
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | str


@dataclass
class WebhookReceiver:
    script: list[int | str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        receiver = self
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    answer: int | str = receiver.script.pop(0) if receiver.script else 200
                    receiver.requests.append(
                        Request(time.monotonic(), self.path, dict(self.headers), body, answer)
                    )
                if answer == "drop":
                    self.close_connection = True
                    return  # no status line: the client sees the connection close
                assert isinstance(answer, int)
                self.send_response(answer)
                if 300 <= answer < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            # The handshake runs in accept(); one that fails is dropped by
            # socketserver (an OSError) and the receiver serves on.
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30) -> list[Request]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.requests)} requests after {timeout}s, wanted {count}")
