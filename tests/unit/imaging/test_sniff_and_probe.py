from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from imghost.imaging.probe import ProbeError, probe
from imghost.imaging.sniff import sniff
from tests.factories import image_bytes


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("JPEG", "jpeg"), ("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"), ("AVIF", "avif")],
)
def test_sniff_generated(fmt: str, expected: str) -> None:
    found = sniff(image_bytes(fmt)[:64])
    assert found is not None and found.name == expected


def test_sniff_heic_and_rejects() -> None:
    found = sniff(image_bytes("HEIF")[:64])
    assert found is not None and found.name == "heic"
    for head in (b"", b"hello", b"BM" + b"\0" * 60, b"II*\0" + b"\0" * 60, b"<svg", b"%PDF-1.7"):
        assert sniff(head) is None
    # An ftyp box with an unrelated brand (an MP4 video) is not an image.
    assert sniff(b"\0\0\0\x18ftypisom\0\0\0\0isomiso2") is None


def _write(tmp_path: Path, data: bytes, name: str = "f") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_probe_reports_upright_dimensions(tmp_path: Path) -> None:
    img = Image.new("RGB", (60, 20), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° CW to display: the stored width is the upright height
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    result = probe(_write(tmp_path, buf.getvalue()), 10**8)
    assert (result.width, result.height) == (20, 60)


def test_probe_animation_frames(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), (60 * i, 0, 0)) for i in range(4)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert probe(_write(tmp_path, buf.getvalue()), 10**8).frames == 4


def test_probe_pixel_limit_before_decoding(tmp_path: Path) -> None:
    # A PNG header claiming 50000x50000 with no pixel data: refused on the header.
    png = image_bytes("PNG", size=(50000, 1))
    with pytest.raises(ProbeError) as exc:
        probe(_write(tmp_path, png), 10_000)
    assert exc.value.status == 413 and exc.value.code == "image_too_large"


def test_probe_truncated_and_garbage(tmp_path: Path) -> None:
    from os import urandom

    noise = Image.frombytes("RGB", (64, 64), urandom(64 * 64 * 3))
    buf = io.BytesIO()
    noise.save(buf, "JPEG")
    jpeg = buf.getvalue()
    for data in (jpeg[: len(jpeg) // 2], b"\xff\xd8\xff" + b"\0" * 100):
        with pytest.raises(ProbeError) as exc:
            probe(_write(tmp_path, data), 10**8)
        assert exc.value.status == 422 and exc.value.code == "invalid_image"
    with pytest.raises(ProbeError) as exc:
        probe(_write(tmp_path, b"just text"), 10**8)
    assert exc.value.status == 415
    with pytest.raises(ProbeError) as exc:
        probe(_write(tmp_path, b""), 10**8)
    assert exc.value.code == "invalid_image"
