"""Malware scanning by a ClamAV daemon (clamd), behind the `Scanner` protocol.

The client speaks clamd's own protocol (it is tiny, and a dependency for it
would be larger than this module): a ``z``-prefixed command ending in a NUL
byte; for ``zINSTREAM`` the file follows as chunks, each a 4-byte big-endian
length and its bytes, ended by a zero length; the one reply ends in a NUL.
The stored original is streamed from disk in `CHUNK` pieces, so memory stays
flat whatever the file's size.

Replies, and what they mean here:

- ``stream: OK``: clean;
- ``stream: <Signature> FOUND``: infected, by that signature (with
  ``AlertExceedsMax yes`` also ``Heuristics.Limits.Exceeded.*``: a file over
  clamd's scan limits is never passed as clean);
- ``INSTREAM size limit exceeded. ERROR``: the file is longer than clamd's
  ``StreamMaxLength``. NOT clean: it was not scanned in full, and passing it
  would let any payload through by being large;
- any other ``... ERROR``, a refused or reset connection, or no answer within
  the timeout: `ClamdUnavailable` (no verdict; the caller's policy decides).

Addresses are ``unix:/path/to/clamd.sock`` or ``tcp://host:port``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from imghost.imaging.scan import ScanVerdict

CHUNK = 256 * 1024  # bytes per INSTREAM chunk: a few syscalls per MB, flat memory
_MAX_REPLY = 64 * 1024  # a reply is one line; more is not clamd
SIZE_LIMIT = "INSTREAM size limit exceeded"


class ClamdUnavailable(Exception):
    """clamd could not be asked, or could not answer: no verdict either way."""


@dataclass(frozen=True)
class ClamdAddress:
    """Where clamd listens: a unix socket ``path``, or TCP ``host`` and ``port``."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.path else f"tcp://{self.host}:{self.port}"


def parse_address(text: str) -> ClamdAddress:
    """``unix:/path`` or ``tcp://host:port``; ValueError with a sentence otherwise."""
    if text.startswith("unix:"):
        path = text.removeprefix("unix:").removeprefix("//")
        if not path.startswith("/"):
            raise ValueError(
                f"a unix socket address needs an absolute path: unix:/path, not {text}"
            )
        return ClamdAddress(path=path)
    if text.startswith("tcp://"):
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in {text}") from exc
        if not parts.hostname or port is None or parts.path not in ("", "/"):
            raise ValueError(f"a TCP address is tcp://host:port, not {text}")
        return ClamdAddress(host=parts.hostname, port=port)
    raise ValueError(f"clamd's address is unix:/path or tcp://host:port, not {text}")


def parse_reply(reply: str) -> ScanVerdict:
    """The verdict of an ``INSTREAM`` reply, or ClamdUnavailable when it has none."""
    if reply.endswith("ERROR"):
        if reply.startswith(SIZE_LIMIT):
            return ScanVerdict(
                False,
                "The file is larger than the malware scanner accepts (clamd's StreamMaxLength), "
                "so it could not be scanned in full.",
                ClamdScanner.name,
            )
        raise ClamdUnavailable(f"clamd could not scan the file: {reply}")
    text = reply.removeprefix("stream:").strip()
    if text == "OK":
        return ScanVerdict(True, None, ClamdScanner.name)
    if text.endswith(" FOUND"):
        signature = text.removesuffix(" FOUND").strip()[:200]
        return ScanVerdict(
            False,
            f"The malware scanner (ClamAV) found {signature}.",
            ClamdScanner.name,
            signature=signature,
        )
    raise ClamdUnavailable(f"clamd answered something unexpected: {reply[:200]!r}")


class ClamdScanner:
    """A `Scanner` that asks clamd. Blocking: run it in a thread.

    ``timeout`` bounds each whole call (connect, send, reply), not each read,
    so a clamd that trickles or stalls cannot hold a job for longer.
    """

    name: str = "clamav"

    def __init__(self, address: str | ClamdAddress, timeout: float = 30.0) -> None:
        self.address = parse_address(address) if isinstance(address, str) else address
        self.timeout = timeout

    def scan(self, path: Path, format_name: str) -> ScanVerdict:
        """The verdict on the file at ``path`` (its format does not matter to clamd)."""
        return parse_reply(self.instream(path))

    def instream(self, path: Path) -> str:
        """Stream the file to clamd; its reply (``stream: OK``, ``... FOUND``, ``... ERROR``)."""
        deadline = time.monotonic() + self.timeout
        with self._connect(deadline) as sock, path.open("rb") as source:
            try:
                _send(sock, b"zINSTREAM\0", deadline)
                while chunk := source.read(CHUNK):
                    _send(sock, struct.pack(">I", len(chunk)) + chunk, deadline)
                _send(sock, struct.pack(">I", 0), deadline)
            except (BrokenPipeError, ConnectionResetError) as exc:
                # clamd stops reading once a stream passes StreamMaxLength: it
                # has answered and closed. Its reply, if any, says why.
                with contextlib.suppress(OSError, ClamdUnavailable):
                    reply = _read_reply(sock, deadline)
                    if reply:
                        return reply
                raise ClamdUnavailable(
                    "clamd closed the connection while the file was sent"
                ) from exc
            return _read_reply(sock, deadline)

    def accepts(self, size: int) -> bool:
        """Whether clamd takes a stream of ``size`` bytes (its StreamMaxLength).

        clamd checks each chunk's declared length against what is left of the
        limit before reading it: one chunk header of ``size`` and the end of our
        sending answer at once, "size limit exceeded" or nothing. No bytes sent."""
        deadline = time.monotonic() + self.timeout
        with self._connect(deadline) as sock:
            _send(sock, b"zINSTREAM\0" + struct.pack(">I", size), deadline)
            sock.shutdown(socket.SHUT_WR)
            try:
                reply = _read_reply(sock, deadline)
            except ClamdUnavailable as exc:
                if "without an answer" in str(exc):
                    return True  # it waited for the bytes: the size is within the limit
                raise
        return not reply.startswith(SIZE_LIMIT)

    def command(self, command: str) -> str:
        """A one-line command (``PING``, ``VERSION``, ``RELOAD``) and its reply."""
        deadline = time.monotonic() + self.timeout
        with self._connect(deadline) as sock:
            _send(sock, b"z" + command.encode("ascii") + b"\0", deadline)
            return _read_reply(sock, deadline)

    def version(self) -> str:
        """``ClamAV 1.4.6[/db version/db date]``: the engine and its signatures."""
        return self.command("VERSION")

    def _connect(self, deadline: float) -> socket.socket:
        address = self.address
        try:
            if address.path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(_left(deadline))
                    sock.connect(address.path)
                except BaseException:
                    sock.close()
                    raise
                return sock
            assert address.host is not None and address.port is not None
            return socket.create_connection((address.host, address.port), _left(deadline))
        except (OSError, ClamdUnavailable) as exc:
            raise ClamdUnavailable(f"clamd at {address} cannot be reached: {exc}") from exc


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ClamdUnavailable("clamd did not answer within the timeout")
    return left


def _send(sock: socket.socket, data: bytes, deadline: float) -> None:
    sock.settimeout(_left(deadline))
    try:
        sock.sendall(data)
    except TimeoutError as exc:
        raise ClamdUnavailable("clamd did not take the file within the timeout") from exc


def _read_reply(sock: socket.socket, deadline: float) -> str:
    """Up to the NUL that ends a ``z`` command's reply (or the connection's end)."""
    reply = bytearray()
    while b"\0" not in reply and len(reply) < _MAX_REPLY:
        sock.settimeout(_left(deadline))
        try:
            got = sock.recv(4096)
        except TimeoutError as exc:
            raise ClamdUnavailable("clamd did not answer within the timeout") from exc
        except ConnectionResetError:
            break
        if not got:
            break
        reply += got
    text = bytes(reply).split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    if not text:
        raise ClamdUnavailable("clamd closed the connection without an answer")
    return text
