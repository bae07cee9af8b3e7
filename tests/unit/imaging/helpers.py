"""Fixtures the imaging tests build themselves: ICC profiles, EXIF with GPS, encoded images."""

from __future__ import annotations

import io
import struct
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageFile, ImageStat

from tests.corpus import corpus_root

XYZ = tuple[float, float, float]

# sRGB primaries adapted to D50 (Bradford), as an ICC v2 matrix/TRC profile stores them.
SRGB_RED: XYZ = (0.4360747, 0.2225045, 0.0139322)
SRGB_GREEN: XYZ = (0.3850649, 0.7168786, 0.0971045)
SRGB_BLUE: XYZ = (0.1430804, 0.0606169, 0.7141733)
D50: XYZ = (0.9642, 1.0, 0.8249)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(values: XYZ) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in values)


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_))
        + ascii_
        + b"\0" * 8  # no Unicode description
        + b"\0\0\0"  # no ScriptCode description
        + b"\0" * 67
    )


def _profile(colour_space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table = struct.pack(">I", len(tags))
    body = b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = 128 + table_size + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"  # CMM
        + b"\x02\x10\0\0"  # version 2.1
        + b"mntr"
        + colour_space
        + b"XYZ "
        + b"\0" * 12  # date
        + b"acsp"
        + b"\0" * 24  # platform, flags, manufacturer, model, attributes
        + b"\0\0\0\0"  # intent
        + b"".join(_s15(v) for v in D50)
        + b"\0" * 48  # creator, id, reserved
    )
    assert len(header) == 128
    return header + table + body


def _curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def grey_profile(description: str, gamma: float) -> bytes:
    """A minimal ICC v2 greyscale display profile (one gamma curve)."""
    return _profile(
        b"GRAY",
        [(b"desc", _desc(description)), (b"wtpt", _xyz(D50)), (b"kTRC", _curve(gamma))],
    )


def rgb_profile(
    description: str,
    red: XYZ = SRGB_RED,
    green: XYZ = SRGB_GREEN,
    blue: XYZ = SRGB_BLUE,
    gamma: float = 2.2,
) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix + gamma curves)."""
    curve = _curve(gamma)
    tags = [
        (b"desc", _desc(description)),
        (b"wtpt", _xyz(D50)),
        (b"rXYZ", _xyz(red)),
        (b"gXYZ", _xyz(green)),
        (b"bXYZ", _xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0no copyright\0"),
    ]
    return _profile(b"RGB ", tags)


def gps_exif(
    lat: tuple[float, float, float] = (43.0, 28.0, 2.81),
    lat_ref: str = "N",
    lon: tuple[float, float, float] = (11.0, 53.0, 6.46),
    lon_ref: str = "E",
    altitude: float | None = 120.5,
    below_sea: bool = False,
    **ifd0: Any,
) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = ifd0.pop("make", "Imghost")
    exif[0x0110] = ifd0.pop("model", "Test Camera")
    for tag, value in ifd0.items():
        exif[int(tag)] = value
    gps = exif.get_ifd(0x8825)
    gps[0] = b"\x02\x02\x00\x00"
    gps[1] = lat_ref
    gps[2] = lat
    gps[3] = lon_ref
    gps[4] = lon
    if altitude is not None:
        gps[5] = b"\x01" if below_sea else b"\x00"
        gps[6] = altitude
    return exif


def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
    if fmt.upper() in ("HEIF", "HEIC"):
        import pillow_heif

        pillow_heif.register_heif_opener()
        fmt = "HEIF"
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def pattern(size: tuple[int, int] = (96, 64), mode: str = "RGB") -> Image.Image:
    """A deterministic image with structure in both directions (not flat, not noise)."""
    img = Image.linear_gradient("L").resize(size)
    other = img.transpose(Image.Transpose.ROTATE_90).resize(size)
    rgb = Image.merge("RGB", (img, other, ImageChops.invert(img)))
    return rgb.convert(mode)


def watch_decoding(
    monkeypatch: pytest.MonkeyPatch, plugin: type[ImageFile.ImageFile], *, refuse: bool = False
) -> list[tuple[int, int]]:
    """The sizes at which images of ``plugin`` have their pixels decoded (each ``load()``).

    What a guard claims ("refused before any pixel is decoded", "decoded
    smaller") is then asserted as such, not as a wall time that a busy
    machine can exceed. With ``refuse``, a decode raises instead of running,
    so a test whose guard is gone fails at once rather than allocating a
    bomb's pixels.
    """
    real = plugin.load
    decoded: list[tuple[int, int]] = []

    def load(self: ImageFile.ImageFile) -> Any:
        decoded.append(self.size)
        if refuse:
            raise AssertionError(f"pixels decoded at {self.size}")
        return real(self)

    monkeypatch.setattr(plugin, "load", load)
    return decoded


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel (0..255) of two same-size images."""
    assert a.size == b.size, (a.size, b.size)
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def corpus_files(*folders: str) -> list[str]:
    """Relative paths of corpus files in ``folders`` (for parametrize ids); [] without a corpus."""
    root = corpus_root()
    if not root.is_dir():
        return []
    return sorted(
        f"{folder}/{p.name}"
        for folder in folders
        for p in (root / folder).iterdir()
        if p.is_file() and not p.name.startswith(".")
    )
