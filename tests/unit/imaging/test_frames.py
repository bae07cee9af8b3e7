"""Frames and canvas are counted from the headers; animation bombs are refused
before a single frame is decoded."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import GifImagePlugin, Image

from imghost.imaging.frames import count_frames
from imghost.imaging.probe import ProbeError, probe, sniffed, walk
from tests.hostile import chunky_gif, chunky_png, gif_bomb
from tests.unit.imaging.helpers import watch_decoding


def _animation(fmt: str, frames: int, size: tuple[int, int] = (40, 30), **save: object) -> bytes:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    images = [Image.new("RGB", size, (i * 40 % 256, 90, 160)) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, format=fmt, save_all=True, append_images=images[1:], **save)
    return buf.getvalue()


def _write(tmp_path: Path, data: bytes, name: str = "f") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("fmt", "name", "save"),
    [
        ("GIF", "gif", {"duration": 50}),
        ("PNG", "png", {"duration": 50}),
        ("WEBP", "webp", {"duration": 50, "lossless": True}),
    ],
)
def test_counts_generated_animations(
    tmp_path: Path, fmt: str, name: str, save: dict[str, Any]
) -> None:
    path = _write(tmp_path, _animation(fmt, 5, **save))
    counted = count_frames(path, name, 1000)
    assert counted is not None
    assert (counted.count, counted.width, counted.height) == (5, 40, 30)
    assert counted.total_pixels == 5 * 40 * 30
    assert probe(path, 10**8, max_frames=5).frames == 5
    with pytest.raises(ProbeError) as err:
        probe(path, 10**8, max_frames=4)
    assert (err.value.status, err.value.code) == (413, "too_many_frames")
    with pytest.raises(ProbeError) as err:
        probe(path, 10**8, max_total_pixels=5 * 40 * 30 - 1)
    assert (err.value.status, err.value.code) == (413, "image_too_large")


def test_still_images_are_one_frame(tmp_path: Path) -> None:
    for fmt, name in (("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif")):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, format=fmt)
        counted = count_frames(_write(tmp_path, buf.getvalue()), name, 1000)
        assert counted is not None and counted.count == 1
    # A JPEG's walk counts its segments only; its canvas is left to the decoder.
    counted = count_frames(_write(tmp_path, b"\xff\xd8\xff"), "jpeg", 1000)
    assert counted is not None and (counted.count, counted.width) == (1, 0)
    assert count_frames(_write(tmp_path, b"\0" * 16), "heif", 1000) is None


@pytest.mark.timeout(20)
def test_the_probes_gif_is_refused_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 230 KB: 10,000 one-pixel frames on a 10000x10000 screen. Before, probe()
    # composited every frame on the 100 MP canvas (minutes, 1.4 GB). Now it is
    # refused from the headers: no frame is decoded (asserted as that, not as a
    # wall time a loaded machine can exceed).
    path = _write(tmp_path, gif_bomb())
    assert 220_000 < path.stat().st_size < 240_000
    decoded = watch_decoding(monkeypatch, GifImagePlugin.GifImageFile, refuse=True)
    with pytest.raises(ProbeError) as err:
        probe(path, 10**8)
    assert decoded == []
    assert (err.value.status, err.value.code) == (413, "too_many_frames")
    # With a frame limit it passes, the total-pixel limit refuses it, as early.
    with pytest.raises(ProbeError) as err:
        probe(path, 10**8, max_frames=20_000)
    assert decoded == []
    assert (err.value.status, err.value.code) == (413, "image_too_large")


def test_gif_frames_outside_the_screen_grow_the_canvas(tmp_path: Path) -> None:
    data = bytearray(gif_bomb(2, 1, 1))
    # Move the second frame's image descriptor to (5000, 4000).
    second = data.index(b"\x2c", data.index(b"\x2c") + 1)
    data[second + 1 : second + 5] = struct.pack("<2H", 5000, 4000)
    counted = count_frames(_write(tmp_path, bytes(data)), "gif", 1000)
    assert counted is not None and (counted.width, counted.height) == (5001, 4001)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.mark.timeout(20)
def test_apng_that_claims_a_million_frames(tmp_path: Path) -> None:
    apng = _animation("PNG", 2, (64, 64))
    at = apng.index(b"acTL") - 4
    actl = _png_chunk(b"acTL", struct.pack(">2I", 1_000_000, 0))
    apng = apng[:at] + actl + apng[at + len(actl) :]
    path = _write(tmp_path, bytes(apng))
    counted = count_frames(path, "png", 1000)
    assert counted is not None and counted.count == 1_000_000
    with pytest.raises(ProbeError) as err:
        probe(path, 10**8)
    assert err.value.code == "too_many_frames"


def test_webp_frames_are_composited_on_the_canvas(tmp_path: Path) -> None:
    # 300 frames of 1x1 on a 16383x16383 canvas: 80 G pixels to composite.
    frame = b"ANMF" + struct.pack("<I", 16) + b"\0" * 6 + b"\0" * 6 + b"\0" * 4
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x02\0\0\0" + (16382).to_bytes(3, "little") * 2
    body = b"WEBP" + vp8x + b"ANIM" + struct.pack("<I", 6) + b"\0" * 6 + frame * 300
    counted = count_frames(
        _write(tmp_path, b"RIFF" + struct.pack("<I", len(body)) + body), "webp", 1000
    )
    assert counted is not None
    assert (counted.count, counted.width, counted.height) == (300, 16383, 16383)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heif_and_avif_sequences_are_counted_before_decoding(tmp_path: Path, fmt: str) -> None:
    path = _write(tmp_path, _animation(fmt, 3, (64, 48)))
    assert probe(path, 10**8).frames == 3
    with pytest.raises(ProbeError) as err:
        probe(path, 10**8, max_frames=2)
    assert err.value.code == "too_many_frames"
    with pytest.raises(ProbeError) as err:
        probe(path, 10**8, max_total_pixels=3 * 64 * 48 - 1)
    assert err.value.code == "image_too_large"


def test_heif_images_larger_than_the_primary_count(tmp_path: Path) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    images = [Image.new("RGB", (64, 48)), Image.new("RGB", (640, 480))]
    buf = io.BytesIO()
    images[0].save(buf, format="HEIF", save_all=True, append_images=images[1:])
    path = _write(tmp_path, buf.getvalue())
    with pytest.raises(ProbeError) as err:
        probe(path, 10**8, max_total_pixels=2 * 640 * 480 - 1)
    assert err.value.code == "image_too_large"
    with pytest.raises(ProbeError) as err:
        probe(path, 640 * 480 - 1)
    assert err.value.code == "image_too_large"


def _not_opened(*args: object, **kwargs: object) -> None:
    raise AssertionError("Pillow opened a file the walk should have refused")


@pytest.mark.parametrize(
    ("data", "fmt"), [(chunky_png(20_000), "png"), (chunky_gif(20_000), "gif")]
)
def test_a_file_of_countless_tiny_chunks_is_refused_before_pillow_opens_it(
    tmp_path: Path, data: bytes, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: no cap; a 7.9 MB PNG of 660,000 empty chunks took 4.6 s to open
    # (and was accepted). The walk stops past the cap, before Pillow runs:
    # asserted as that (Pillow never opens it, the walk reads 1001 chunks),
    # not as a wall time a loaded machine can exceed.
    path = _write(tmp_path, data)
    assert probe(path, 10**8).width in (1, 8)  # within the default cap it is fine
    monkeypatch.setattr(Image, "open", _not_opened)
    with pytest.raises(ProbeError) as err:
        probe(path, 10**8, max_chunks=1000)
    assert (err.value.status, err.value.code) == (422, "image_too_complex")
    counted = count_frames(path, fmt, 1000, 1000)
    assert counted is not None and counted.chunks == 1001  # the walk stopped there


def test_the_chunk_cap_grows_with_the_file(tmp_path: Path) -> None:
    # A big GIF is made of 255-byte sub-blocks: one more chunk is allowed per
    # 256 bytes, so a legitimate 50 MB GIF (200,000 sub-blocks) passes.
    screen = b"GIF89a" + struct.pack("<2H", 1, 1) + b"\x00\x00\x00"
    data = screen + b"\x21\xfe" + (b"\xff" + b"x" * 255) * 3000 + b"\x00\x3b"
    path = _write(tmp_path, data)
    counted = walk(path, sniffed(path), 1000, max_chunks=100)
    assert counted is not None and counted.chunks > 3000


def test_a_jpeg_of_countless_segments_is_refused_before_pillow_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: Pillow read 250,000 empty comment segments (1 MB) one by one in
    # Python: 0.64 s of a server thread, then accepted the file.
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    data = buf.getvalue()
    path = _write(tmp_path, data[:2] + b"\xff\xfe\x00\x02" * 20_000 + data[2:])
    assert probe(path, 10**8).width == 8
    monkeypatch.setattr(Image, "open", _not_opened)
    with pytest.raises(ProbeError) as err:
        probe(path, 10**8, max_chunks=1000)
    assert (err.value.status, err.value.code) == (422, "image_too_complex")
