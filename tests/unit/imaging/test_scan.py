from __future__ import annotations

import io
import pickle
import random
import struct
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from imghost.imaging.scan import (
    TRAILING_SLACK,
    Scanner,
    ScanVerdict,
    StructuralScanner,
    find_payload,
    find_signature,
    image_end,
)
from imghost.imaging.sniff import sniff
from tests.corpus import HOSTILE_ACCEPT, HOSTILE_REJECT, require_corpus
from tests.unit.imaging.helpers import corpus_files, encode, pattern

SCANNER: Scanner = StructuralScanner()


def _scan(tmp_path: Path, data: bytes, fmt: str, name: str = "upload") -> ScanVerdict:
    path = tmp_path / name
    path.write_bytes(data)
    return SCANNER.scan(path, fmt)


def _jpeg(size: tuple[int, int] = (64, 48), **params: object) -> bytes:
    return encode(pattern(size), "JPEG", **params)


def _with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    segment = bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("shell.php", "<?= 1 ?>" * 50)
        archive.writestr("readme.txt", "x" * 2000)
    return buf.getvalue()


# -- must be flagged --------------------------------------------------------------------------


def test_php_in_a_jpeg_comment(tmp_path: Path) -> None:
    data = _with_segment(_jpeg(), 0xFE, b"<?php system($_GET[1]); ?>")
    verdict = _scan(tmp_path, data, "jpeg")
    assert not verdict.clean and verdict.scanner == "structural"
    assert verdict.reason is not None and "PHP" in verdict.reason


def test_png_followed_by_a_zip(tmp_path: Path) -> None:
    verdict = _scan(tmp_path, encode(pattern(), "PNG") + _zip(), "png")
    assert not verdict.clean and verdict.reason is not None and "ZIP" in verdict.reason


def test_gif_with_html_appended(tmp_path: Path) -> None:
    html = b"<!doctype html><HTML><body onload=alert(1)>hi</body></HTML>"
    verdict = _scan(tmp_path, encode(pattern(), "GIF") + html, "gif")
    assert not verdict.clean and verdict.reason is not None and "HTML" in verdict.reason


def test_jpeg_with_10_kib_appended(tmp_path: Path) -> None:
    junk = random.Random(7).randbytes(10 * 1024)
    verdict = _scan(tmp_path, _jpeg() + junk, "jpeg")
    assert not verdict.clean
    assert verdict.reason is not None and "10240 bytes follow the end" in verdict.reason


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"<ScRiPt>alert(1)</script>", "script"),
        (b"<iframe src=//evil>", "iframe"),
        (b"a href=JavaScript:alert(1)", "javascript:"),
    ],
)
def test_markup_anywhere(tmp_path: Path, payload: bytes, words: str) -> None:
    data = _with_segment(_jpeg(), 0xE1, b"http://ns.adobe.com/xap/1.0/\0" + payload)
    verdict = _scan(tmp_path, data, "jpeg")
    assert not verdict.clean and verdict.reason is not None and words in verdict.reason


def test_windows_executable(tmp_path: Path) -> None:
    pe = bytearray(256)
    pe[0:2] = b"MZ"
    pe[0x3C:0x40] = struct.pack("<I", 0x80)
    pe[0x80:0x84] = b"PE\0\0"
    verdict = _scan(tmp_path, _with_segment(_jpeg(), 0xFE, bytes(pe)), "jpeg")
    assert not verdict.clean and verdict.reason is not None and "executable" in verdict.reason


def test_zip_inside_a_segment(tmp_path: Path) -> None:
    data = _with_segment(_jpeg(), 0xEB, _zip())  # APP11, where no trailing check looks
    verdict = _scan(tmp_path, data, "jpeg")
    assert not verdict.clean and verdict.reason is not None and "ZIP" in verdict.reason


@pytest.mark.parametrize(("fmt", "pillow"), [("webp", "WEBP"), ("avif", "AVIF"), ("heic", "HEIF")])
def test_trailing_data_in_other_formats(tmp_path: Path, fmt: str, pillow: str) -> None:
    junk = random.Random(3).randbytes(4096)
    verdict = _scan(tmp_path, encode(pattern(), pillow) + junk, fmt)
    assert not verdict.clean and verdict.reason is not None and "follow the end" in verdict.reason


def test_png_after_iend(tmp_path: Path) -> None:
    junk = random.Random(5).randbytes(2000)
    verdict = _scan(tmp_path, encode(pattern(), "PNG") + junk, "png")
    assert not verdict.clean


def test_undecodable_and_mismatched(tmp_path: Path) -> None:
    jpeg = _jpeg((200, 200))
    verdict = _scan(tmp_path, jpeg[: len(jpeg) // 2], "jpeg")
    assert not verdict.clean and verdict.reason is not None and "decode" in verdict.reason
    verdict = _scan(tmp_path, encode(pattern(), "PNG"), "jpeg")
    assert not verdict.clean and verdict.reason is not None and "not a JPEG" in verdict.reason


def test_hostile_rejects_are_not_clean() -> None:
    root = require_corpus()
    for name in HOSTILE_REJECT:
        path = root / "hostile" / name
        found = sniff(path.read_bytes()[:64])
        verdict = SCANNER.scan(path, found.name if found else "jpeg")
        assert not verdict.clean and verdict.reason


# -- must stay clean --------------------------------------------------------------------------


def test_small_slack_is_tolerated(tmp_path: Path) -> None:
    padding = b"\0" * TRAILING_SLACK
    assert _scan(tmp_path, _jpeg() + padding, "jpeg").clean
    assert _scan(tmp_path, encode(pattern(), "PNG") + padding, "png").clean


def test_progressive_jpeg_with_exif_thumbnail(tmp_path: Path) -> None:
    # The EXIF thumbnail's own EOI sits inside APP1: the walk must skip it.
    thumb = _jpeg((16, 16))
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    app1_thumb = b"Exif\0\0" + exif.tobytes()[6:] + thumb
    data = _with_segment(_jpeg((300, 200), progressive=True), 0xE1, app1_thumb)
    assert image_end(data, "jpeg") == len(data)
    assert _scan(tmp_path, data, "jpeg").clean


def test_mpo_secondary_images_are_declared(tmp_path: Path) -> None:
    frames = [pattern((120, 80)), pattern((120, 80)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert sniff(data[:64]) is not None
    assert _scan(tmp_path, data, "jpeg").clean
    # ...but not a blanket pass: junk after the last declared image still counts.
    assert not _scan(tmp_path, data + b"\x55" * 5000, "jpeg").clean


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 8) + kind + body


def test_motion_photo_mp4_trailer(tmp_path: Path) -> None:
    mp4 = _box(b"ftyp", b"isom\0\0\0\0isommp41") + _box(b"mdat", bytes(8000))
    assert _scan(tmp_path, _jpeg() + mp4, "jpeg").clean
    broken = mp4[:-100]  # box sizes no longer reach the end of the file exactly
    assert not _scan(tmp_path, _jpeg() + broken, "jpeg").clean


def test_samsung_sef_trailer(tmp_path: Path) -> None:
    block = b"\0\0\x01\x0a" + b"Image_UTC_Data" + b"1600000000000" + bytes(3000)
    head = b"SEFH" + struct.pack("<II", 107, 1)
    entry = struct.pack("<HHII", 0, 0x0A01, len(block), len(block))  # counted back from SEFH
    directory = head + entry
    trailer = block + directory + struct.pack("<I", len(directory)) + b"SEFT"
    assert _scan(tmp_path, _jpeg() + trailer, "jpeg").clean


@pytest.mark.parametrize(
    "name",
    corpus_files("exif", "heic", "formats", "orientation")
    + [f"hostile/{n}" for n in sorted(HOSTILE_ACCEPT)],
)
def test_corpus_accepted_files_scan_clean(name: str) -> None:
    path = require_corpus() / name
    found = sniff(path.read_bytes()[:64])
    assert found is not None
    verdict = SCANNER.scan(path, found.name)
    assert verdict == ScanVerdict(True, None, "structural"), verdict.reason
    assert image_end(path.read_bytes(), found.name) == path.stat().st_size


def test_short_needles_need_what_makes_them_work() -> None:
    assert find_signature(b"xx<?PHP\necho 1;") is not None
    assert find_signature(b"xx<?phpx") is None
    assert find_signature(b"<Html>") is not None and find_signature(b"<htmlz") is None


def test_random_noise_images_do_not_trip_signatures() -> None:
    rng = random.Random(2024)
    for index in range(200):
        side = rng.randrange(300, 380)
        noise = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        fmt = "jpeg" if index % 2 else "png"
        params = {"quality": 95, "subsampling": 0} if fmt == "jpeg" else {"compress_level": 1}
        data = encode(noise, fmt.upper(), **params)
        assert len(data) > 200_000
        assert find_payload(data, fmt) is None, (index, find_payload(data, fmt))


def test_random_bytes_do_not_trip_signatures() -> None:
    data = random.Random(99).randbytes(48 * 1024 * 1024)
    assert find_signature(data) is None


def test_verdicts_and_scanner_pickle() -> None:
    verdict = ScanVerdict(False, "why", "structural")
    assert pickle.loads(pickle.dumps(verdict)) == verdict
    scanner = pickle.loads(pickle.dumps(StructuralScanner(max_pixels=10, decode=False)))
    assert scanner.name == "structural" and scanner.max_pixels == 10 and not scanner.decode
