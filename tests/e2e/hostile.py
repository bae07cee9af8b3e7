"""Load and attack helpers for tests/e2e/test_hostile_load.py.

Every client binds its own loopback source address (Linux routes all of 127.0.0.0/8 to
the loopback interface), so the server sees normal users and the attacker as different
client addresses, as it would on the internet: limits keyed by address may throttle
the attacker without touching anyone else.

Normal users are synchronous httpx clients in threads; the attacker is asyncio on raw
sockets, so it can send exactly the bytes it wants (half a header, a trickle of body)
and still notice an early answer or a closed connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import statistics
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

import httpx
import psutil
from PIL import Image

from tests.factories import PASSWORD

# Normal users each have an address of their own; the attacker has one more.
USER_ADDRESSES = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
OWNER_ADDRESS = "127.0.0.21"
VICTIM_ADDRESS = "127.0.0.22"
ATTACKER_ADDRESS = "127.0.0.66"

# A request of a normal user that takes longer than this counts as failed.
REQUEST_TIMEOUT = 10.0
# Each normal user starts a cycle (upload, view, login) at most this often: well under
# the free plan's 60 uploads a minute, so the default rate limits never throttle them.
CYCLE_SECONDS = 1.5

MIB = 1024**2

# Outcomes other than an HTTP status.
CLOSED = "closed"  # the server closed or reset the connection without an answer
PENDING = "pending"  # no answer yet when the attacker gave up (a stalled connection)
TIMEOUT = "timeout"  # a normal user's request over REQUEST_TIMEOUT

Outcome = int | str


def client(base_url: str, address: str, timeout: float = REQUEST_TIMEOUT) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        transport=httpx.HTTPTransport(local_address=address),
    )


def async_client(
    base_url: str, address: str, timeout: float = REQUEST_TIMEOUT
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        transport=httpx.AsyncHTTPTransport(local_address=address),
    )


def small_png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (seed % 256, (seed * 7) % 256, 90)).save(buf, "PNG")
    return buf.getvalue()


def noise_png(size: int, seed: int = 0) -> bytes:
    """Random pixels: a PNG (and every PNG rendition of it) barely compresses."""
    raw = random.Random(seed).randbytes(size * size * 3)
    buf = io.BytesIO()
    Image.frombytes("RGB", (size, size), raw).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def hostile_gif(frames: int = 10_000, screen: int = 10_000) -> bytes:
    """`frames` 1x1 frames on a `screen`² logical screen, ~23 bytes a frame.

    Written byte by byte: a valid GIF89a that no encoder would produce, the shape of
    the upload that stopped all uploads (issue 14, item 1).
    """
    out = bytearray(b"GIF89a")
    # Logical screen, global colour table of 2 entries (flag 0x80, size field 0).
    out += struct.pack("<HHBBB", screen, screen, 0x80, 0, 0)
    out += b"\x00\x00\x00\xff\xff\xff"
    # NETSCAPE2.0 loop extension: an animation, looping for ever.
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for i in range(frames):
        # Graphic control: disposal "restore to background", 10 ms delay.
        out += b"\x21\xf9\x04\x08\x01\x00\x00\x00"
        # Image descriptor: a 1x1 frame, spread over the screen.
        x, y = (i * 7919) % screen, (i * 104729) % screen
        out += b"\x2c" + struct.pack("<HHHHB", x, y, 1, 1, 0)
        # LZW, minimum code size 2: clear (4), pixel 0, end (5) in 3-bit codes.
        out += b"\x02\x02\x44\x01\x00"
    out += b"\x3b"
    return bytes(out)


# --- measurements -----------------------------------------------------------------


@dataclass
class Sample:
    kind: str  # upload, view, login
    user: int
    outcome: Outcome
    seconds: float


@dataclass
class LoadReport:
    samples: list[Sample]

    def of(self, kind: str) -> list[Sample]:
        return [s for s in self.samples if s.kind == kind]

    def failures(self) -> list[Sample]:
        return [s for s in self.samples if not (isinstance(s.outcome, int) and s.outcome < 300)]

    @staticmethod
    def p95(samples: list[Sample]) -> float:
        if not samples:
            return 0.0
        times = sorted(s.seconds for s in samples)
        return times[min(len(times) - 1, int(0.95 * len(times)))]

    def summary(self) -> str:
        parts = []
        for kind in ("upload", "view", "login"):
            got = self.of(kind)
            if not got:
                parts.append(f"{kind}: none")
                continue
            ok = sum(1 for s in got if isinstance(s.outcome, int) and s.outcome < 300)
            median = statistics.median(s.seconds for s in got)
            parts.append(
                f"{kind}: {ok}/{len(got)} ok, median {median:.2f}s, p95 {self.p95(got):.2f}s"
            )
        bad = sorted({str(s.outcome) for s in self.failures()})
        return "; ".join(parts) + (f"; failures: {', '.join(bad)}" if bad else "")


@dataclass
class NormalUser:
    email: str
    token: str
    address: str


class NormalLoad:
    """Normal users uploading, viewing and logging in, each in a thread, until stopped."""

    def __init__(self, base_url: str, users: list[NormalUser], view_ids: list[str]) -> None:
        self.base_url = base_url
        self.users = users
        self.view_ids = view_ids
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(len(users))
        ]

    def __enter__(self) -> NormalLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadReport:
        self._stop.set()
        for t in self._threads:
            t.join(REQUEST_TIMEOUT * 3 + 5)
        return LoadReport(list(self.samples))

    def _timed(self, kind: str, user: int, call: Callable[[], httpx.Response]) -> None:
        start = time.monotonic()
        outcome: Outcome
        try:
            outcome = call().status_code
        except httpx.TimeoutException:
            outcome = TIMEOUT
        except httpx.TransportError as exc:
            outcome = type(exc).__name__
        with self._lock:
            self.samples.append(Sample(kind, user, outcome, time.monotonic() - start))

    def _run(self, i: int) -> None:
        user = self.users[i]
        auth = {"Authorization": f"Bearer {user.token}"}
        login = {"email": user.email, "password": PASSWORD}
        seed = i * 1000
        with client(self.base_url, user.address) as c:
            while not self._stop.is_set():
                start = time.monotonic()
                seed += 1
                upload = {"file": (f"n{seed}.png", small_png(seed), "image/png")}
                self._timed(
                    "upload",
                    i,
                    partial(
                        c.post,
                        "/v1/images",
                        headers=auth,
                        files=upload,
                        # Stored every time (the load's meaning), never answered
                        # as a duplicate of an earlier phase's upload.
                        data={"visibility": "private", "allowDuplicate": "true"},
                    ),
                )
                # A public image as a stranger sees it: no credentials.
                view = f"/images/{self.view_ids[seed % len(self.view_ids)]}"
                self._timed("view", i, partial(c.get, view))
                self._timed("login", i, partial(c.post, "/v1/auth/login", json=login))
                # Paced, not a sleep waiting for something: the users act at a steady rate.
                self._stop.wait(max(0.0, CYCLE_SECONDS - (time.monotonic() - start)))


class TreeRss:
    """Peak RSS of a process and all its descendants, sampled every 50 ms.

    Children are listed again at every sample: pixel-pool and validation processes
    come and go during an attack.
    """

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> TreeRss:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


# --- the attacker: raw HTTP/1.1 on asyncio sockets --------------------------------


@dataclass
class AttackReport:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def server_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if isinstance(o, int) and o >= 500]

    def counts(self) -> dict[str, int]:
        got: dict[str, int] = {}
        for o in self.outcomes:
            got[str(o)] = got.get(str(o), 0) + 1
        return got


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(
        "127.0.0.1", port, local_addr=(ATTACKER_ADDRESS, 0), limit=1 << 20
    )


async def _status(reader: asyncio.StreamReader) -> Outcome:
    """The status of the first answer on the connection, or CLOSED."""
    try:
        line = await reader.readline()
    except (ConnectionError, OSError):
        return CLOSED
    parts = line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        return CLOSED
    return int(parts[1])


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()  # a reset, as a client that gives up would leave it
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def send(
    port: int,
    head: bytes,
    body: Iterable[bytes] | AsyncIterator[bytes] = (),
    *,
    wait: float,
) -> Outcome:
    """Send `head` then `body`, and return the first answer's status.

    The answer is read while the body is still being sent (a server may refuse early
    and close). `wait` bounds the wait for an answer after the last byte was sent:
    then the connection is abandoned (PENDING).
    """
    reader, writer = await _open(port)
    answer = asyncio.create_task(_status(reader))

    async def write_all() -> None:
        writer.write(head)
        await writer.drain()
        if isinstance(body, AsyncIterator):
            async for chunk in body:
                writer.write(chunk)
                await writer.drain()
        else:
            for chunk in body:
                writer.write(chunk)
                await writer.drain()

    writing = asyncio.create_task(write_all())
    try:
        done, _ = await asyncio.wait({answer, writing}, return_when=asyncio.FIRST_COMPLETED)
        if answer in done:
            return answer.result()
        if writing.exception() is not None:
            # The server closed while we were sending; an answer may still be buffered.
            try:
                async with asyncio.timeout(2):
                    return await answer
            except TimeoutError:
                return CLOSED
        try:
            async with asyncio.timeout(wait):
                return await answer
        except TimeoutError:
            return PENDING
    finally:
        writing.cancel()
        answer.cancel()
        await _close(writer)


def request_head(method: str, path: str, port: int, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def trickle(chunk: bytes, every: float, until: float) -> AsyncIterator[bytes]:
    """`chunk` every `every` seconds until the monotonic time `until`."""
    while time.monotonic() < until:
        yield chunk
        await asyncio.sleep(every)  # the attack's own pace, nothing to wait for


async def gather_outcomes(coros: Iterable[Awaitable[Outcome]]) -> list[Outcome]:
    got = await asyncio.gather(*coros, return_exceptions=True)
    return [CLOSED if isinstance(g, BaseException) else g for g in got]
