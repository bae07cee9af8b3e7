"""A CDN's purge API on loopback: records every request, answers a scripted
list of statuses and then 200."""

from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Purge:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PurgeReceiver:
    script: list[int] = field(default_factory=list)
    requests: list[Purge] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                    receiver.requests.append(
                        Purge(self.command, self.path, dict(self.headers), body)
                    )
                reply = b'{"success": false, "errors": ["zone is locked"]}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_POST = do_PURGE = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PurgeReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
