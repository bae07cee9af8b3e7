"""Request heads and connections are bounded (issue 14, item 5).

Each test is an attack on loopback through raw asyncio streams against the live
server, which is built by imghost.server exactly as `imghost serve` builds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from imghost.settings import Settings
from tests.conftest import LiveServer

GET_HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


def in_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body in a fresh event loop (the suite has no async plugin)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def _read_until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes; fails if it stays open."""
    chunks = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


async def _send_all(writer: asyncio.StreamWriter, data: bytes, chunk: int = 65536) -> None:
    """Write ``data``, stopping quietly when the server has closed on us."""
    with contextlib.suppress(ConnectionError):
        for start in range(0, len(data), chunk):
            writer.write(data[start : start + chunk])
            await writer.drain()


def _parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:])
    }
    return status, headers, json.loads(body) if body else None


async def _closed(writer: asyncio.StreamWriter) -> None:
    """Close and wait until the socket is: a transport left closing when the test's
    loop ends is closed by the garbage collector, whose ResourceWarning then fails
    whichever test runs next in the process."""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _attack(port: int, data: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], Any]:
    """Send ``data`` (the server may stop reading it), return the answer it closed with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sender = asyncio.create_task(_send_all(writer, data))
    try:
        raw = await _read_until_closed(reader, timeout)
    finally:
        sender.cancel()
        await _closed(writer)
    return _parse(raw)


@pytest.fixture
def small(settings_factory: Any) -> Settings:
    return settings_factory(  # type: ignore[no-any-return]
        header_timeout=1.0, keepalive_timeout=0.5, max_connections=3
    )


@pytest.mark.parametrize(
    ("extra_headers", "status", "code"),
    [
        # One header far over the 64 KiB default, sent whole (it was answered 200).
        (b"X-Big: " + b"a" * 1_000_000 + b"\r\n", 431, "headers_too_large"),
        # Under the size limit, over the count limit (100).
        (b"".join(b"X-H%d: v\r\n" % i for i in range(101)), 431, "headers_too_large"),
        # Whole and under the raw bound, but 70 fields of 1000 bytes pass 64 KiB.
        (
            b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(70)),
            431,
            "headers_too_large",
        ),
    ],
    ids=["one-huge-header", "too-many-headers", "fields-over-64k"],
)
@in_loop
async def test_oversized_head_is_431_and_closed(
    live: LiveServer, extra_headers: bytes, status: int, code: str
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + extra_headers + b"\r\n"
    got, headers, body = await _attack(live.port, request)
    assert (got, body["code"]) == (status, code)
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"


@in_loop
async def test_header_that_never_ends_is_cut_at_the_limit(live: LiveServer) -> None:
    # Half-sent: the header's line never ends, so the parser never completes it;
    # the server must answer once the head passes its limit, not buffer 4 MB.
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 4_000_000
    got, _, body = await _attack(live.port, request)
    assert (got, body["code"]) == (431, "headers_too_large")


@in_loop
async def test_overlong_url_is_414(live: LiveServer) -> None:
    request = b"GET /healthz?q=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    got, _, body = await _attack(live.port, request)
    assert (got, body["code"]) == (414, "uri_too_long")


@in_loop
async def test_head_within_the_limits_is_served(live: LiveServer) -> None:
    request = (
        b"GET /healthz?q="
        + b"a" * 8000
        + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 500) for i in range(90))
        + b"\r\n"
    )
    got, _, _ = await _attack(live.port, request)
    assert got == 200


@in_loop
async def test_slowloris_is_cut_after_the_header_timeout(small: Settings) -> None:
    with LiveServer(small) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)

        async def trickle() -> None:
            # One byte every 0.1 s: the head would take ~4 s to arrive.
            with contextlib.suppress(ConnectionError):
                for byte in GET_HEALTHZ[:-2]:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.1)

        started = time.monotonic()
        sender = asyncio.create_task(trickle())
        try:
            raw = await _read_until_closed(reader, 4.0)
        finally:
            sender.cancel()
            await _closed(writer)
        elapsed = time.monotonic() - started
    status, _, body = _parse(raw)
    assert (status, body["code"]) == (408, "request_timeout")
    assert 0.9 <= elapsed < 2.5  # the 1 s timeout, and room for a loaded machine


@in_loop
async def test_silent_connection_is_closed_after_the_header_timeout(small: Settings) -> None:
    with LiveServer(small) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        started = time.monotonic()
        try:
            raw = await _read_until_closed(reader, 4.0)
        finally:
            await _closed(writer)
        elapsed = time.monotonic() - started
    assert _parse(raw)[0] == 408
    assert elapsed < 2.5


@in_loop
async def test_idle_keepalive_connection_is_closed(small: Settings) -> None:
    with LiveServer(small) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        try:
            writer.write(GET_HEALTHZ)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            length = int(_parse(head)[1]["content-length"])
            await reader.readexactly(length)
            started = time.monotonic()
            # Kept alive, then closed with nothing more sent after the 0.5 s idle timeout.
            assert await _read_until_closed(reader, 4.0) == b""
            elapsed = time.monotonic() - started
        finally:
            await _closed(writer)
    assert elapsed < 2.0  # the 0.5 s idle timeout, and room for a loaded machine


@in_loop
async def test_connections_over_the_cap_are_refused_and_logged_once(
    small: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="imghost.server")
    with LiveServer(small) as live:
        held = [await asyncio.open_connection("127.0.0.1", live.port) for _ in range(3)]
        try:
            # Three extra connections: each answered 503 and closed at once.
            for _ in range(3):
                reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
                try:
                    raw = await _read_until_closed(reader, 0.5)
                finally:
                    await _closed(writer)
                status, headers, body = _parse(raw)
                assert (status, body["code"]) == (503, "server_busy")
                assert headers["retry-after"] == "1"
            # The connections already open are still served.
            for reader, writer in held:
                writer.write(GET_HEALTHZ)
                await writer.drain()
                assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        finally:
            for _, writer in held:
                await _closed(writer)
    reached = [r for r in caplog.records if "connection cap reached" in r.getMessage()]
    assert len(reached) == 1


@in_loop
async def test_slowloris_on_a_kept_alive_connection_is_cut_too(small: Settings) -> None:
    with LiveServer(small) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        try:
            writer.write(GET_HEALTHZ)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(int(_parse(head)[1]["content-length"]))

            async def trickle() -> None:
                # The next request's head, a byte every 0.1 s: each byte is
                # sooner than the 0.5 s keep-alive timeout, the whole is not.
                with contextlib.suppress(ConnectionError):
                    for byte in GET_HEALTHZ[:-2]:
                        writer.write(bytes([byte]))
                        await writer.drain()
                        await asyncio.sleep(0.1)

            started = time.monotonic()
            sender = asyncio.create_task(trickle())
            try:
                raw = await _read_until_closed(reader, 4.0)
            finally:
                sender.cancel()
            elapsed = time.monotonic() - started
        finally:
            await _closed(writer)
    assert _parse(raw)[0] == 408
    assert 0.9 <= elapsed < 2.5


@in_loop
async def test_unread_body_of_an_early_answer_does_not_keep_the_connection(
    small: Settings,
) -> None:
    # A 401 to an upload whose body the app never reads, the body trickling
    # in: each byte used to reset the keep-alive timer, so the socket stayed
    # open for as long as the client liked (1000 of them fill the cap).
    with LiveServer(small) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        writer.write(
            b"POST /v1/images HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
            b"boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"
        )
        await writer.drain()

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                while True:
                    await asyncio.sleep(0.1)
                    writer.write(b"x")
                    await writer.drain()

        sender = asyncio.create_task(trickle())
        started = time.monotonic()
        try:
            raw = await _read_until_closed(reader, 4.0)
        finally:
            sender.cancel()
            await _closed(writer)
        elapsed = time.monotonic() - started
    status, headers, body = _parse(raw)
    assert (status, body["code"]) == (401, "unauthorized")
    # Said in the answer, so a client does not pool the connection and lose the
    # next request it would send on it.
    assert headers["connection"] == "close"
    assert elapsed < 2.0  # the answer, then LINGER (0.5 s), on a loaded machine


@in_loop
async def test_a_body_read_whole_keeps_the_connection_alive(live: LiveServer) -> None:
    # The close above is only for bodies cut short: an answered request whose
    # body has all arrived leaves the connection usable.
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    try:
        for _ in range(2):
            writer.write(b"POST /v1/images HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 401")
            await reader.readexactly(int(_parse(head)[1]["content-length"]))
    finally:
        await _closed(writer)


@in_loop
async def test_a_pipelined_head_behind_a_large_body_is_served(settings_factory: Any) -> None:
    # The body of one request and the start of the next head in one read: the
    # body's bytes were counted as head bytes, so a legitimate head got 431
    # (here, and the first answer was lost with the connection).
    settings = settings_factory(max_url_bytes=1024, max_header_bytes=2048, max_headers=10)
    body = b"x" * 20_000  # several times the ~4 KiB head bound
    with LiveServer(settings) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        try:
            writer.write(
                b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n"
                + body
                + b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
            )
            await writer.drain()
            async with asyncio.timeout(4):
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), head
                await reader.readexactly(int(_parse(head)[1]["content-length"]))
                writer.write(b"\r\n")  # the second head ends
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), head
        finally:
            await _closed(writer)
