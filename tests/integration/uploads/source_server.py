"""A small HTTP server on loopback that serves what an upload from a URL fetches."""

from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.factories import image_bytes

PAGE = b"<!doctype html><p>not a photo</p>"


@dataclass
class SourceServer:
    """Paths: /img.jpg, /hop/N (N redirects, then the image), /loop (redirects to
    itself), /page.html, /missing (404), /chunked/N (N bytes, no Content-Length),
    /declared/N (says N bytes, sends none), /stall (answers once ``release`` is set),
    /to/<url> (a redirect to that URL)."""

    image: bytes = field(default_factory=lambda: image_bytes(color=(90, 60, 30)))
    release: threading.Event = field(default_factory=threading.Event)
    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.source = self  # type: ignore[attr-defined]
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> SourceServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    @property
    def source(self) -> SourceServer:
        found: SourceServer = self.server.source  # type: ignore[attr-defined]
        return found

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.source.paths.append(self.path)
        path = self.path
        fixed = {
            "/img.jpg": lambda: self._send(200, self.source.image, "image/jpeg"),
            "/loop": lambda: self._redirect("/loop"),
            "/page.html": lambda: self._send(200, PAGE, "text/html"),
            "/stall": self._stall,
        }
        if path in fixed:
            fixed[path]()
        elif path.startswith("/hop/"):
            left = int(path.rsplit("/", 1)[-1])
            self._redirect("/img.jpg" if left <= 1 else f"/hop/{left - 1}")
        elif path.startswith("/to/"):
            self._redirect(path.removeprefix("/to/"))
        elif path.startswith("/chunked/"):
            self._chunked(int(path.rsplit("/", 1)[-1]))
        elif path.startswith("/declared/"):
            self._declared(path.rsplit("/", 1)[-1])
        else:
            self._send(404, b"no", "text/plain")

    def _stall(self) -> None:
        self.source.release.wait(30)
        self._send(200, self.source.image, "image/jpeg")

    def _declared(self, length: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", length)
        self.end_headers()
        self.close_connection = True

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _chunked(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = b"\xff" * 65536
        try:
            while size > 0:
                piece = block[: min(size, len(block))]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                size -= len(piece)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client stopped reading at its limit
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass
