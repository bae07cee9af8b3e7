"""A throwaway ClamAV daemon for tests and `make bench`: clamd on a free
loopback port and a unix socket in a temp dir, with a signature database the
caller writes (no freshclam, no network).

The database is tiny (a few body signatures), so clamd starts in a fraction of
a second. `EICAR` is the standard anti-virus test string; `PAYLOAD_MARKER` is a
marker the tests append after a JPEG's end (FFD9), matched by its own
signature, so "an image with a payload appended" is a real detection.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from imghost.testing.servers import Unavailable, free_port, terminate, wait_for_port

# The EICAR test file (68 bytes): every scanner flags it, it harms nothing.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
PAYLOAD_MARKER = b"IMGHOST-TEST-PAYLOAD-7f3a9c"
EICAR_SIGNATURE = "Imghost.Test.EICAR"
PAYLOAD_SIGNATURE = "Imghost.Test.JpegPayload"
# What clamd logs once a reloaded database is the one scans use.
_ACTIVATED = "Activating the newly loaded database"
# clamd marks the matches of signatures outside its official databases so.
UNOFFICIAL = ".UNOFFICIAL"


def body_signature(name: str, needle: bytes) -> str:
    """An ``.ndb`` line: ``needle`` anywhere in any file (target 0, offset ``*``)."""
    return f"{name}:0:*:{needle.hex()}"


def base_signatures() -> dict[str, str]:
    """The database files of every test clamd: EICAR (whole file and anywhere
    in a file) and the marker right after a JPEG's end of image."""
    eicar_md5 = hashlib.md5(EICAR).hexdigest()  # noqa: S324 - the .hdb format is MD5
    return {
        "imghost.hdb": f"{eicar_md5}:{len(EICAR)}:{EICAR_SIGNATURE}.File\n",
        "imghost.ndb": (
            body_signature(EICAR_SIGNATURE, EICAR)
            + "\n"
            + body_signature(PAYLOAD_SIGNATURE, b"\xff\xd9" + PAYLOAD_MARKER)
            + "\n"
        ),
    }


def clamd_binary() -> str:
    found = shutil.which("clamd") or (
        "/usr/sbin/clamd" if Path("/usr/sbin/clamd").exists() else None
    )
    if not found:
        raise Unavailable("clamd not found; apt-get install clamav-daemon")
    return found


def clamd_conf(root: Path, port: int, stream_max: int) -> str:
    """The clamd.conf of a test clamd; the same settings production needs
    (docs/OPERATIONS.md): StreamMaxLength at least the largest accepted file,
    and AlertExceedsMax so that a file over a scan limit is flagged, not
    passed. MaxFileSize and MaxScanSize follow StreamMaxLength (clamd's own
    defaults are lower than some installs' file limits)."""
    return "\n".join(
        [
            f"DatabaseDirectory {root / 'db'}",
            f"LocalSocket {root / 'clamd.sock'}",
            "TCPAddr 127.0.0.1",
            f"TCPSocket {port}",
            "Foreground yes",
            f"LogFile {root / 'clamd.log'}",
            f"StreamMaxLength {stream_max}",
            f"MaxFileSize {stream_max}",
            f"MaxScanSize {stream_max * 4}",
            "AlertExceedsMax yes",
            # Tests reload on purpose (RELOAD); no timer of its own meanwhile.
            "SelfCheck 0",
            "",
        ]
    )


@dataclass
class ClamdServer:
    """clamd with its files in ``root``. ``stop()`` keeps the port, socket path
    and database, so ``start()`` brings the same server back (outage tests);
    ``close()`` stops it for good and removes the directory."""

    root: Path
    port: int
    binary: str
    stream_max: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def tcp_address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def unix_address(self) -> str:
        return f"unix:{self.root / 'clamd.sock'}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.root / "clamd.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, 30, self.proc)
            self._wait_for_socket(30)
        except BaseException:
            self.stop()
            raise

    def _wait_for_socket(self, timeout: float) -> None:
        # The unix socket is made right after the TCP one: a few milliseconds.
        deadline = time.monotonic() + timeout
        while not (self.root / "clamd.sock").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("clamd made no unix socket")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def command(self, command: str, timeout: float = 10.0) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout) as sock:
            sock.sendall(b"z" + command.encode("ascii") + b"\0")
            reply = b""
            while not reply.endswith(b"\0"):
                got = sock.recv(4096)
                if not got:
                    break
                reply += got
        return reply.rstrip(b"\0").decode()

    def add_signature(self, name: str, needle: bytes, timeout: float = 30.0) -> None:
        """Extend the database with a body signature and RELOAD clamd; returns
        once clamd says the new database is in use (its log)."""
        log = self.root / "clamd.log"
        before = log.read_text(errors="replace").count(_ACTIVATED)
        with (self.root / "db" / "extra.ndb").open("a") as out:
            out.write(body_signature(name, needle) + "\n")
        reply = self.command("RELOAD")
        if reply != "RELOADING":
            raise RuntimeError(f"clamd answered RELOAD with {reply!r}")
        deadline = time.monotonic() + timeout
        # clamd reloads in a thread of its own and says so only in its log.
        while log.read_text(errors="replace").count(_ACTIVATED) <= before:
            if time.monotonic() > deadline:
                raise TimeoutError("clamd did not reload its database")
            time.sleep(0.02)


def start_clamd(stream_max: int = 8 * 1024 * 1024) -> ClamdServer:
    """clamd on a free loopback port (and a unix socket) with the test database."""
    binary = clamd_binary()
    root = Path(tempfile.mkdtemp(prefix="imghost-clamd-"))
    server = ClamdServer(root=root, port=free_port(), binary=binary, stream_max=stream_max)
    try:
        (root / "db").mkdir()
        for name, text in base_signatures().items():
            (root / "db" / name).write_text(text)
        (root / "clamd.conf").write_text(clamd_conf(root, server.port, stream_max))
        server.start()
    except BaseException:
        with contextlib.suppress(Exception):
            server.close()
        raise
    return server
