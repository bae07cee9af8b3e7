"""The HTTP protocol's own cost per request, in process, without sockets or the app.

Each uvicorn protocol class (plain httptools, imghost's bounded httptools, h11)
gets a browser-like keep-alive request (~700 bytes of headers) fed into
``data_received`` on an in-memory transport, answered by a minimal ASGI app; the
CPU time (``time.process_time``) of many requests in a row, divided by their
number, is the parser's and protocol's share of a request. One process, one
thread, no network: the figure barely moves with the neighbours' load, unlike
requests/s under wrk on shared cores.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
import uvloop
from uvicorn.server import ServerState

from imghost.server import ServerConfig
from imghost.server_protocol import HttpLimits

REQUEST = (
    b"GET /images/img_0123456789abcdef0123456789abcdef HTTP/1.1\r\n"
    b"Host: images.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5\r\n"
    b"Accept-Language: en-GB,en;q=0.7,de;q=0.3\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Referer: https://blog.example.org/2026/12/a-post-with-pictures\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; consent=1\r\n"
    b"Sec-Fetch-Dest: image\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Site: cross-site\r\n"
    b'If-None-Match: "0123456789abcdef"\r\n'
    b"Priority: u=5, i\r\n"
    b"\r\n"
)
PROTOCOLS = {
    "uvicorn-httptools": "httptools",
    "imghost-httptools": "imghost",
    "uvicorn-h11": "h11",
}


class _Transport(asyncio.Transport):
    """Swallows writes; counts responses (one per body end)."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False
        self.writes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 304, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@dataclass
class ProtocolResult:
    requests: int
    repeats: int
    # variant → microseconds of CPU per request, one per repeat
    cpu_us: dict[str, list[float]] = field(default_factory=dict)

    def median(self, variant: str) -> float:
        return statistics.median(self.cpu_us[variant])

    def ratio(self, variant: str) -> float:
        return self.median(variant) / self.median("uvicorn-httptools")

    def as_json(self) -> dict[str, object]:
        return {
            "requests_per_repeat": self.requests,
            "request_bytes": len(REQUEST),
            "variants": {
                name: {
                    "median_cpu_us_per_request": round(self.median(name), 2),
                    "ratio_to_uvicorn-httptools": round(self.ratio(name), 4),
                    "cpu_us_per_request": [round(v, 2) for v in samples],
                }
                for name, samples in self.cpu_us.items()
            },
        }


def _config(kind: str) -> uvicorn.Config:
    if kind == "imghost":
        from imghost.server_protocol import LimitedHttpToolsProtocol

        config: uvicorn.Config = ServerConfig(
            _app, limits=HttpLimits(), http=LimitedHttpToolsProtocol, log_level="warning"
        )
    else:
        config = uvicorn.Config(_app, http=kind, log_level="warning")
    config.load()
    return config


async def _cpu_per_request(kind: str, requests: int) -> float:
    config = _config(kind)
    loop = asyncio.get_running_loop()
    protocol: Any = config.http_protocol_class(  # type: ignore[call-arg]
        config=config, server_state=ServerState(), app_state={}, _loop=loop
    )
    transport = _Transport()
    protocol.connection_made(transport)
    started = time.process_time()
    for _ in range(requests):
        answered = transport.writes
        protocol.data_received(REQUEST)
        while transport.writes == answered:  # the app's task runs on the next turns
            await asyncio.sleep(0)
    used = time.process_time() - started
    protocol.connection_lost(None)
    return used / requests * 1e6


def run(requests: int = 5_000, repeats: int = 7) -> ProtocolResult:
    result = ProtocolResult(requests=requests, repeats=repeats)
    for _ in range(repeats):
        for name, kind in PROTOCOLS.items():  # interleaved, like the wrk rounds
            # uvloop, as uvicorn picks when it is installed (imghost depends on it).
            cost = uvloop.run(_cpu_per_request(kind, requests))
            result.cpu_us.setdefault(name, []).append(cost)
    return result
