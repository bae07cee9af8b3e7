"""Real servers on loopback that notifications are delivered to.

- :class:`SmtpSink`: aiosmtpd; keeps every message (but, unless told, the
  sign-up's verification e-mail); can refuse the first N with a temporary
  error (451).
- :class:`WebhookReceiver`: an ``http.server`` thread; answers a scripted
  list of statuses (``"drop"`` closes the connection without an answer), then
  200; records every request with its arrival time.
"""

from __future__ import annotations

import email
import email.policy
import http.server
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
            self.sink.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


# Every sign-up is sent one: tests of other mail leave it out of their counts.
VERIFICATION_SUBJECT = "[imghost] Verify your e-mail address"


class SmtpSink:
    def __init__(
        self, fail_first: int = 0, ignore_subjects: tuple[str, ...] = (VERIFICATION_SUBJECT,)
    ) -> None:
        self.port = free_port()
        self.fail_first = fail_first
        self.ignore_subjects = ignore_subjects
        self.attempts = 0
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.controller = Controller(_SmtpHandler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=false"

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
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

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
