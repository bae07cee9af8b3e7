"""What an image says about itself: EXIF, GPS, colour profile, geometry, placeholder.

Metadata comes from cameras, phones and editors of every vintage and is often
malformed, so extraction never fails on it: each part is read on its own and
a part that does not parse is left out (or None) while the rest is kept. Only
a file that is not an image at all raises (ProbeError, as `probe` would).

GPS is returned apart from ``exif`` (the GPS IFD never appears in ``exif``)
so callers can drop it unless the owner opted in. ``exif`` also leaves out
maker notes, embedded XMP/IPTC/ICC blobs and fields that identify a person
or a device rather than the photo: CameraOwnerName, BodySerialNumber,
LensSerialNumber, ImageUniqueID.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageCms

from imghost.imaging.decode import decode_upright
from imghost.imaging.palette import dominant_color
from imghost.imaging.probe import opened
from imghost.imaging.thumbhash import rgba_to_thumbhash

#: Side of the rendition the placeholder is computed from.
PLACEHOLDER_SIDE = 32
#: Longest string kept for one EXIF field.
MAX_TEXT = 1024
#: Longest list kept for one EXIF field (longer ones are tables, not facts).
MAX_ITEMS = 32

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_ORIENTATION = 0x0112
_SKIP = {
    _EXIF_IFD,
    _GPS_IFD,
    0xA005,  # InteropOffset
    0x927C,  # MakerNote: vendor binary, sometimes with serials or GPS
    0x02BC,  # XMLPacket (XMP)
    0x83BB,  # IPTC-NAA
    0x8649,  # Photoshop ImageResources
    0x8773,  # InterColorProfile (reported as iccDescription)
    0x0111,  # StripOffsets
    0x0117,  # StripByteCounts
    0x0144,  # TileOffsets
    0x0145,  # TileByteCounts
    0x0201,  # JPEGInterchangeFormat (thumbnail)
    0x0202,  # JPEGInterchangeFormatLength
    0x014A,  # SubIFDs
    0xC4A5,  # PrintImageMatching
    0xEA1C,  # Padding
    0xA430,  # CameraOwnerName
    0xA431,  # BodySerialNumber
    0xA435,  # LensSerialNumber
    0xA420,  # ImageUniqueID
}
_USER_COMMENT = 0x9286
_XP_TAGS = {0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F}  # Windows XPTitle etc.: UTF-16LE
_DATES = {  # date tag -> (sub-second tag, offset tag)
    0x0132: (0x9290, 0x9010),  # DateTime
    0x9003: (0x9291, 0x9011),  # DateTimeOriginal
    0x9004: (0x9292, 0x9012),  # DateTimeDigitized
}
_ISO = 0x8827
_EXPOSURE_TIME = 0x829A
_PRINTABLE = re.compile(rb"[\x20-\x7e\t\r\n]*")


@dataclass(frozen=True)
class GpsPosition:
    latitude: float  # decimal degrees, south negative
    longitude: float  # decimal degrees, west negative
    altitude: float | None  # metres, below sea level negative

    def to_json(self) -> dict[str, Any]:
        return {"latitude": self.latitude, "longitude": self.longitude, "altitude": self.altitude}


@dataclass(frozen=True)
class ImageMetadata:
    format: str  # sniffed: jpeg, png, gif, webp, heic, heif, avif
    width: int  # upright
    height: int
    color_mode: str  # Pillow mode of the stored image (before any conversion)
    bit_depth: int  # bits per channel as stored: 8, 10, 12, 16 (1/2/4 for low-depth PNG)
    has_alpha: bool
    animated: bool
    frames: int
    orientation: int  # EXIF orientation 1..8 of the file (1 when absent)
    exif: dict[str, Any] = field(default_factory=dict)
    gps: GpsPosition | None = None
    icc_description: str | None = None
    placeholder: str | None = None  # ThumbHash, standard base64
    dominant_color: str | None = None  # "#rrggbb"

    def gps_json(self) -> dict[str, Any] | None:
        """The position alone, for storing apart from the rest (None when absent)."""
        return self.gps.to_json() if self.gps else None

    def to_json(self, include_gps: bool = True) -> dict[str, Any]:
        """camelCase, JSON-safe; ``include_gps=False`` gives ``"gps": None``."""
        return {
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "colorMode": self.color_mode,
            "bitDepth": self.bit_depth,
            "hasAlpha": self.has_alpha,
            "animated": self.animated,
            "frames": self.frames,
            "orientation": self.orientation,
            "exif": dict(self.exif),
            "gps": self.gps.to_json() if include_gps and self.gps else None,
            "iccDescription": self.icc_description,
            "placeholder": self.placeholder,
            "placeholderType": "thumbhash" if self.placeholder else None,
            "dominantColor": self.dominant_color,
        }


def extract(
    path: Path, *, max_pixels: int = 1 << 28, pixels: Image.Image | None = None
) -> ImageMetadata:
    """Read everything `ImageMetadata` holds from the file at ``path``.

    ``max_pixels`` only guards the placeholder decode (probe has already held
    the upload to the real limit); over it, placeholder and colour are None.
    ``pixels``: the whole image, upright and sRGB (`decode`), already decoded
    at some size of at least 32 px a side: the placeholder is made from it
    instead of decoding the file again (for a 12 MP HEIC that decode cost as
    much as all the presets' encoding).
    """
    with opened(path) as (img, fmt):
        facts = _read(img, fmt.name, path)
    if pixels is None:
        placeholder, colour = _placeholder(path, max_pixels)
    else:
        placeholder, colour = placeholder_of(pixels)
    return ImageMetadata(**facts, placeholder=placeholder, dominant_color=colour)


def _read(img: Image.Image, fmt: str, path: Path) -> dict[str, Any]:
    width, height = img.size
    frames = _safe(lambda: int(getattr(img, "n_frames", 1) or 1), 1)
    exif = _safe(img.getexif, None)
    orientation = 1
    if fmt in ("heic", "heif"):
        # libheif already applied the rotation (size is upright) and pillow-heif
        # reset the EXIF tag to 1, keeping the file's value here.
        original = img.info.get("original_orientation")
        orientation = original if isinstance(original, int) and 1 <= original <= 8 else 1
    elif exif is not None:
        value = _safe(lambda: exif.get(_ORIENTATION, 1), 1)
        orientation = value if isinstance(value, int) and 1 <= value <= 8 else 1
        if orientation >= 5:
            width, height = height, width
    tags = _safe(lambda: _exif_tags(exif), {}) if exif is not None else {}
    if fmt in ("heic", "heif") and "Orientation" in tags:
        tags["Orientation"] = orientation
    icc = img.info.get("icc_profile")
    return {
        "format": fmt,
        "width": width,
        "height": height,
        "color_mode": img.mode,
        "bit_depth": _safe(lambda: _bit_depth(img, fmt, path), 8),
        "has_alpha": _safe(lambda: _has_alpha(img), False),
        # pillow-heif lists the images of a HEIF collection as frames; that is
        # not an animation (it cannot read HEIF sequences at all).
        "animated": frames > 1 and fmt not in ("heic", "heif"),
        "frames": frames,
        "orientation": orientation,
        "exif": tags,
        "gps": _safe(lambda: _gps(exif), None) if exif is not None else None,
        "icc_description": _safe(lambda: _icc_description(icc), None) if icc else None,
    }


def _safe(fn: Any, default: Any) -> Any:
    """Call ``fn``; on any failure answer ``default``: malformed metadata is never fatal."""
    try:
        return fn()
    except Exception:
        return default


# -- EXIF -------------------------------------------------------------------


def _exif_tags(exif: Image.Exif) -> dict[str, Any]:
    raw: dict[int, Any] = {}
    with contextlib.suppress(Exception):
        raw.update(exif.items())
    with contextlib.suppress(Exception):  # the Exif IFD wins over a stray IFD0 copy
        raw.update(exif.get_ifd(_EXIF_IFD).items())
    out: dict[str, Any] = {}
    for tag, value in raw.items():
        name = ExifTags.TAGS.get(tag)
        if name is None or tag in _SKIP or tag in _DATES:
            continue
        converted = _tag_value(tag, value)
        if converted is not None:
            out[name] = converted
    for tag, (subsec, offset) in _DATES.items():
        if tag in raw:
            stamp = _date(raw[tag], raw.get(subsec), raw.get(offset))
            if stamp is not None:
                out[ExifTags.TAGS[tag]] = stamp
    if isinstance(exposure := out.get("ExposureTime"), float):
        out["ExposureTimeText"] = _exposure_text(exposure)
    return out


def _tag_value(tag: int, value: Any) -> Any:
    if tag == _USER_COMMENT:
        return _user_comment(value)
    if tag in _XP_TAGS:
        data = bytes(value) if isinstance(value, tuple) else value
        if isinstance(data, bytes):
            return _text(data.decode("utf-16-le", "ignore"))
        return None
    if tag == _ISO and isinstance(value, tuple):
        value = value[0] if value else None
    return _json_value(value)


def _json_value(value: Any, depth: int = 0) -> Any:
    """A JSON-safe form of a Pillow EXIF value, or None to leave the tag out."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float | Fraction) or hasattr(value, "denominator"):
        try:
            number = float(value)
        except (ZeroDivisionError, ValueError, TypeError, OverflowError):
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bytes):
        stripped = value.rstrip(b"\x00")
        if stripped and _PRINTABLE.fullmatch(stripped):
            return _text(stripped.decode("ascii"))
        return None  # binary: nothing a person could read
    if isinstance(value, tuple) and depth == 0 and 0 < len(value) <= MAX_ITEMS:
        items = [_json_value(v, depth + 1) for v in value]
        return None if any(i is None for i in items) else items
    return None


def _text(value: str) -> str | None:
    cleaned = value.replace("\x00", "").strip()
    cleaned = "".join(ch for ch in cleaned if ch.isprintable() or ch in "\n\t")
    return cleaned[:MAX_TEXT] or None


def _user_comment(value: Any) -> str | None:
    if isinstance(value, str):
        return _text(value)
    if not isinstance(value, bytes) or len(value) < 8:
        return None
    charset, body = value[:8], value[8:]
    if charset.startswith(b"UNICODE"):
        # The byte order is not declared; UCS-2 with an ASCII-range first
        # character tells it by where the zero byte sits.
        order = "utf-16-be" if body[:1] == b"\x00" else "utf-16-le"
        return _text(body.decode(order, "ignore"))
    if charset.startswith(b"ASCII") or charset == b"\x00" * 8:
        return _text(body.decode("latin-1")) if _PRINTABLE.fullmatch(body.rstrip(b"\0")) else None
    return None


def _date(value: Any, subsec: Any, offset: Any) -> str | None:
    text = _json_value(value)
    if not isinstance(text, str):
        return None
    try:
        stamp = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return text  # unparseable (often "    :  :     :  :  "): keep what the camera wrote
    iso = stamp.isoformat()
    sub = _json_value(subsec)
    if isinstance(sub, int):
        sub = str(sub)
    if isinstance(sub, str) and sub.strip().isdigit():
        iso += "." + sub.strip()
    zone = _json_value(offset)
    if isinstance(zone, str) and re.fullmatch(r"[+-]\d\d:\d\d", zone.strip()):
        iso += zone.strip()
    return iso


def _exposure_text(seconds: float) -> str:
    """Exposure as photographers write it: "1/250", "0.3", "2"."""
    if 0 < seconds < 1:
        denominator = 1 / seconds
        if abs(denominator - round(denominator)) < 0.05 * denominator:
            return f"1/{round(denominator)}"
    return f"{seconds:g}"


# -- GPS --------------------------------------------------------------------


def _gps(exif: Image.Exif) -> GpsPosition | None:
    ifd = exif.get_ifd(_GPS_IFD)
    if not ifd:
        return None
    lat = _degrees(ifd.get(2), ifd.get(1), "S")
    lon = _degrees(ifd.get(4), ifd.get(3), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    altitude = _json_value(ifd.get(6))
    if not isinstance(altitude, float | int) or isinstance(altitude, bool):
        altitude = None
    else:
        ref = ifd.get(5)
        below = ref in (1, b"\x01", "\x01", "1")
        altitude = -float(altitude) if below else float(altitude)
    return GpsPosition(round(lat, 7), round(lon, 7), altitude)


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    parts = _json_value(value)
    if isinstance(parts, float | int) and not isinstance(parts, bool):
        parts = [parts]
    if not isinstance(parts, list) or not 1 <= len(parts) <= 3:
        return None
    if not all(isinstance(p, float | int) and not isinstance(p, bool) for p in parts):
        return None
    degrees = sum(float(p) / 60**i for i, p in enumerate(parts))
    ref_text = _json_value(ref)
    if isinstance(ref_text, str) and ref_text.strip().upper().startswith(negative):
        degrees = -degrees
    return degrees if math.isfinite(degrees) else None


# -- pixels and container facts ---------------------------------------------


def _icc_description(icc: Any) -> str | None:
    if not isinstance(icc, bytes):
        return None
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    return _text(ImageCms.getProfileDescription(profile))


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or img.has_transparency_data


def _bit_depth(img: Image.Image, fmt: str, path: Path) -> int:
    if fmt == "jpeg":
        bits = getattr(img, "bits", 8)
        return bits if isinstance(bits, int) and bits > 0 else 8
    if fmt == "png":
        with open(path, "rb") as fh:
            ihdr = fh.read(33)
        return ihdr[24] if len(ihdr) > 24 and ihdr[12:16] == b"IHDR" else 8
    if fmt in ("heic", "heif"):
        bits = img.info.get("bit_depth", 8)
        return bits if isinstance(bits, int) and bits > 0 else 8
    if fmt == "avif":
        return _avif_bit_depth(path)
    return 8  # GIF palettes and WebP are 8 bits per channel


def _avif_bit_depth(path: Path) -> int:
    """From the 'pixi' box (bits per channel) or 'av1C' (high_bitdepth/twelve_bit flags)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)  # the meta box with the item properties comes first
    at = head.find(b"pixi")
    if at >= 4 and len(head) > at + 9 and head[at + 8] > 0:
        return int(head[at + 9])  # version/flags (4), channel count (1), bits of channel 0
    at = head.find(b"av1C")
    if at >= 0 and len(head) > at + 6:
        flags = head[at + 6]
        return 12 if flags & 0x20 else 10 if flags & 0x40 else 8
    return 8


def _placeholder(path: Path, max_pixels: int) -> tuple[str | None, str | None]:
    """ThumbHash and dominant colour from a tiny rendition; (None, None) if it cannot decode."""

    def plan(width: int, height: int) -> tuple[int, int]:
        scale = min(1.0, 2 * PLACEHOLDER_SIDE / max(width, height))
        return (max(1, round(width * scale)), max(1, round(height * scale)))

    try:
        img = decode_upright(path, max_pixels, plan).image
    except Exception:
        return None, None
    return placeholder_of(img)


def placeholder_of(pixels: Image.Image) -> tuple[str | None, str | None]:
    """ThumbHash and dominant colour of decoded pixels (upright, sRGB); ``pixels`` is kept."""
    try:
        img = pixels.copy()
        img.thumbnail((PLACEHOLDER_SIDE, PLACEHOLDER_SIDE), Image.Resampling.LANCZOS)
    except Exception:
        return None, None
    colour = _safe(lambda: dominant_color(img), None)
    rgba = img.convert("RGBA")
    thumb = _safe(lambda: rgba_to_thumbhash(rgba.width, rgba.height, rgba.tobytes()), None)
    return (base64.b64encode(thumb).decode("ascii") if thumb else None), colour
