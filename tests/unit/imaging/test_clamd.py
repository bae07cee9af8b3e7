"""The clamd client against a real clamd (the tests' own signature database),
and its protocol edges against a fake server that misbehaves on cue."""

from __future__ import annotations

import io
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from imghost.imaging.clamd import (
    ClamdAddress,
    ClamdScanner,
    ClamdUnavailable,
    parse_address,
    parse_reply,
)
from imghost.processing.config import check_scan
from imghost.settings import ScanSettings, SettingsError
from imghost.testing.clamd import (
    EICAR,
    EICAR_SIGNATURE,
    PAYLOAD_MARKER,
    PAYLOAD_SIGNATURE,
    UNOFFICIAL,
    ClamdServer,
)
from imghost.testing.servers import free_port


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture(params=["tcp", "unix"])
def scanner(request: pytest.FixtureRequest, clamd: ClamdServer) -> ClamdScanner:
    address = clamd.tcp_address if request.param == "tcp" else clamd.unix_address
    return ClamdScanner(address, timeout=10)


def test_a_clean_image_is_clean(scanner: ClamdScanner, tmp_path: Path) -> None:
    verdict = scanner.scan(write(tmp_path, "a.jpg", jpeg()), "jpeg")
    assert verdict.clean and verdict.reason is None and verdict.signature is None
    assert verdict.scanner == "clamav"


def test_eicar_in_a_jpeg_is_found_with_its_signature(scanner: ClamdScanner, tmp_path: Path) -> None:
    verdict = scanner.scan(write(tmp_path, "e.jpg", jpeg() + EICAR), "jpeg")
    assert not verdict.clean
    assert verdict.signature == EICAR_SIGNATURE + UNOFFICIAL
    assert verdict.reason is not None and EICAR_SIGNATURE in verdict.reason


def test_a_payload_after_the_end_of_a_jpeg_is_found(scanner: ClamdScanner, tmp_path: Path) -> None:
    verdict = scanner.scan(write(tmp_path, "p.jpg", jpeg() + PAYLOAD_MARKER), "jpeg")
    assert not verdict.clean and verdict.signature == PAYLOAD_SIGNATURE + UNOFFICIAL
    # The marker inside the image (not right after its end) is not that signature.
    inside = jpeg()[:-2] + PAYLOAD_MARKER + b"\xff\xd9"
    assert scanner.scan(write(tmp_path, "q.jpg", inside), "jpeg").clean


def test_a_stream_over_the_limit_is_not_clean(clamd: ClamdServer, tmp_path: Path) -> None:
    """Over StreamMaxLength clamd answers ERROR (and stops reading): never clean,
    and not a match either. Streamed in chunks whatever the size."""
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        out.truncate(clamd.stream_max + 1024 * 1024)
    verdict = ClamdScanner(clamd.tcp_address, timeout=30).scan(big, "jpeg")
    assert not verdict.clean and verdict.signature is None
    assert verdict.reason is not None and "StreamMaxLength" in verdict.reason


def test_commands(clamd: ClamdServer) -> None:
    scanner = ClamdScanner(clamd.unix_address, timeout=5)
    assert scanner.command("PING") == "PONG"
    assert scanner.version().startswith("ClamAV ")


def test_nothing_listening_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ClamdUnavailable, match="cannot be reached"):
        ClamdScanner(f"tcp://127.0.0.1:{free_port()}", 2).scan(write(tmp_path, "a", b"x"), "jpeg")
    with pytest.raises(ClamdUnavailable, match="cannot be reached"):
        ClamdScanner(f"unix:{tmp_path / 'none.sock'}", 2).scan(write(tmp_path, "b", b"x"), "jpeg")


class FakeClamd:
    """A TCP server that reads a whole INSTREAM and answers ``reply`` (None: stays silent)."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            stream = conn.makefile("rb")
            assert stream.read(10) == b"zINSTREAM\0"
            while size := struct.unpack(">I", stream.read(4))[0]:
                self.received += len(stream.read(size))
            if self.reply is not None:
                conn.sendall(self.reply)
            self.done.wait(10)

    def close(self) -> None:
        self.done.set()
        self.thread.join(10)
        self.listener.close()


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeClamd]:
    server = FakeClamd(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("fake", [None], indirect=True)
def test_a_silent_clamd_times_out(fake: FakeClamd, tmp_path: Path) -> None:
    scanner = ClamdScanner(f"tcp://127.0.0.1:{fake.port}", timeout=0.5)
    with pytest.raises(ClamdUnavailable, match="within the timeout"):
        scanner.scan(write(tmp_path, "a", b"x" * 1000), "jpeg")


@pytest.mark.parametrize("fake", [b"stream: OK\0"], indirect=True)
def test_the_file_is_sent_in_chunks(fake: FakeClamd, tmp_path: Path) -> None:
    data = b"y" * (600 * 1024)  # three chunks of at most 256 KiB
    scanner = ClamdScanner(f"tcp://127.0.0.1:{fake.port}", timeout=10)
    assert scanner.scan(write(tmp_path, "a", data), "jpeg").clean
    assert fake.received == len(data)


@pytest.mark.parametrize("fake", [b"stream: Can't allocate memory ERROR\0"], indirect=True)
def test_another_error_has_no_verdict(fake: FakeClamd, tmp_path: Path) -> None:
    scanner = ClamdScanner(f"tcp://127.0.0.1:{fake.port}", timeout=10)
    with pytest.raises(ClamdUnavailable, match="could not scan"):
        scanner.scan(write(tmp_path, "a", b"x"), "jpeg")


@pytest.mark.parametrize(
    ("reply", "clean", "signature"),
    [
        ("stream: OK", True, None),
        ("stream: Win.Test.EICAR_HDB-1 FOUND", False, "Win.Test.EICAR_HDB-1"),
        ("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND", False, None),
        ("INSTREAM size limit exceeded. ERROR", False, None),
    ],
)
def test_replies(reply: str, clean: bool, signature: str | None) -> None:
    verdict = parse_reply(reply)
    assert verdict.clean is clean
    if signature is not None:
        assert verdict.signature == signature
    if not clean:
        assert verdict.reason


def test_the_heuristic_limit_match_is_a_signature() -> None:
    """With AlertExceedsMax, a file over a scan limit is a match, not clean."""
    verdict = parse_reply("stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND")
    assert verdict.signature == "Heuristics.Limits.Exceeded.MaxScanSize"


def test_nonsense_has_no_verdict() -> None:
    with pytest.raises(ClamdUnavailable):
        parse_reply("hello")


def test_addresses() -> None:
    assert parse_address("unix:/run/clamav/clamd.ctl") == ClamdAddress(path="/run/clamav/clamd.ctl")
    assert parse_address("tcp://clamav:3310") == ClamdAddress(host="clamav", port=3310)
    assert str(parse_address("tcp://10.0.0.2:3310")) == "tcp://10.0.0.2:3310"
    for bad in ("clamav:3310", "unix:relative.sock", "tcp://host", "tcp://host:x", "tcp://h:1/p"):
        with pytest.raises(ValueError, match=r"unix|tcp|port"):
            parse_address(bad)


def test_settings_are_checked() -> None:
    check_scan(ScanSettings())
    check_scan(ScanSettings(clamd_address="unix:/run/clamd.sock"))
    with pytest.raises(SettingsError, match="IMGHOST_CLAMD_ADDRESS"):
        check_scan(ScanSettings(clamd_address="localhost:3310"))
    with pytest.raises(SettingsError, match="IMGHOST_CLAMD_TIMEOUT"):
        check_scan(ScanSettings(clamd_address="tcp://h:1", clamd_timeout=0))


def test_the_stream_limit_is_asked_without_sending_bytes(clamd: ClamdServer) -> None:
    scanner = ClamdScanner(clamd.tcp_address, timeout=5)
    assert scanner.accepts(1000) and scanner.accepts(clamd.stream_max)
    assert not scanner.accepts(clamd.stream_max + 1)
    assert scanner.command("PING") == "PONG"  # clamd is none the worse
