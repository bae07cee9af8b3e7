"""Check that bytes are a whole, decodable image within the pixel limit.

Order matters for safety: the format is sniffed from the bytes, the container
is walked (its chunks counted and capped) before Pillow opens it, dimensions are
read from the header and checked against the pixel limit *before* any pixel is
decoded (a decompression bomb is refused without allocating its canvas), the
frames are counted from the container and their total against the frame and
total-pixel limits (an animation bomb is refused without decoding a frame),
and only then is the image decoded in full to prove it is not broken.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

from imghost.imaging.frames import Frames, count_frames
from imghost.imaging.sniff import SNIFF_BYTES, Format, sniff
from imghost.units import human_pixels

_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        # AVIF is decoded by Pillow's own plugin (Pillow >= 11.3).
        _heif_registered = True


# We enforce our own pixel limit before decoding; Pillow's global guard would
# otherwise raise its own error type at 2x its default and warn below that.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

_ORIENTATION_TAG = 0x0112
_TRANSPOSED = {5, 6, 7, 8}  # orientations whose upright form swaps width and height


class ProbeError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def __reduce__(self) -> tuple[type[ProbeError], tuple[int, str, str]]:
        # Raised inside pool processes: must survive the trip back by pickle.
        return (ProbeError, (self.status, self.code, self.detail))


@dataclass(frozen=True)
class ProbeResult:
    format: Format
    width: int  # upright, after EXIF orientation
    height: int
    frames: int


def unsupported(detail: str = "") -> ProbeError:
    return ProbeError(
        415,
        "unsupported_media_type",
        detail
        or "This file is not an image format we accept (JPEG, PNG, GIF, WebP, HEIC/HEIF, AVIF).",
    )


def orientation_of(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # malformed EXIF must not reject good pixels
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# Pillow plugin per sniffed format: the file is only ever opened by the plugin
# its bytes call for, never by whichever plugin happens to accept it.
PLUGINS = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WEBP",
    "heic": "HEIF",
    "heif": "HEIF",
    "avif": "AVIF",
}


def sniffed(path: Path) -> Format:
    """The format of the file at ``path``, from its bytes (ProbeError if none)."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise ProbeError(422, "invalid_image", "The file is empty.")
    fmt = sniff(head)
    if fmt is None:
        raise unsupported()
    return fmt


@contextlib.contextmanager
def opened(path: Path, fmt: Format | None = None) -> Iterator[tuple[Image.Image, Format]]:
    """Open an image whose format is sniffed from its bytes (or is ``fmt``).

    Every failure inside the ``with`` block, opening and decoding included,
    becomes a :class:`ProbeError` with the right 4xx, except MemoryError: that
    is the process running short, not the file's fault, and is re-raised.
    """
    if fmt is None:
        fmt = sniffed(path)
    if fmt.name in ("heic", "heif"):
        _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path, formats=[PLUGINS[fmt.name]]) as img:
                yield img, fmt
    except (ProbeError, MemoryError):
        raise
    except UnidentifiedImageError as exc:
        raise ProbeError(
            422,
            "invalid_image",
            f"The file starts like {fmt.name.upper()} but its contents are not a valid image.",
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ProbeError(413, "image_too_large", "The image is too large to decode.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ProbeError(
            422,
            "invalid_image",
            f"The file looks like {fmt.name.upper()} but could not be decoded ({_reason(exc)}).",
        ) from exc
    except Exception as exc:  # any decoder crash is the file's fault, not ours
        raise ProbeError(
            422, "invalid_image", f"The image could not be decoded ({_reason(exc)})."
        ) from exc


# Defaults of IMGHOST_MAX_FRAMES and IMGHOST_MAX_TOTAL_PIXELS (see settings/sections.py):
# a real animation has tens to a few hundred frames (a 10 s GIF at 25 fps is
# 250); 300 MP is 300 frames of 1 MP or 140 of 1080p. Pillow composites GIF
# frames at 12 MP/s and WebP at 5 MP/s in the worst case (noise, measured on a
# busy 2-core machine), so the biggest admitted files decode in well under a
# minute; the time budget (IMGHOST_VALIDATION_TIMEOUT) catches the rest.
MAX_FRAMES = 1000
MAX_TOTAL_PIXELS = 300_000_000
# Default of IMGHOST_MAX_IMAGE_CHUNKS. Real files have a few chunks or blocks
# plus their pixel data's (PNG IDAT of 8-64 KB, GIF LZW sub-blocks of 255
# bytes): CHUNK_BYTES more are allowed per that many bytes of the file, so a
# legitimate 50 MB GIF (200,000 sub-blocks) passes. Walking one costs ~2 us,
# Pillow's own parsing of a PNG chunk ~15 us.
MAX_CHUNKS = 100_000
CHUNK_BYTES = 256


def walk(path: Path, fmt: Format, max_frames: int, max_chunks: int) -> Frames | None:
    """Walk the container before Pillow opens it (see :mod:`imghost.imaging.frames`):
    a file of more than ``max_chunks`` chunks (plus one per CHUNK_BYTES) is
    refused 422 image_too_complex, having cost a bounded walk."""
    cap = max_chunks + path.stat().st_size // CHUNK_BYTES
    counted = count_frames(path, fmt.name, max_frames, cap)
    if counted is not None and counted.chunks > cap:
        raise ProbeError(
            422,
            "image_too_complex",
            f"The {fmt.name.upper()} file is made of more than {cap:,} chunks or blocks; "
            "it was refused before decoding. Save it again with an ordinary encoder.",
        )
    return counted


def probe(
    path: Path,
    max_pixels: int,
    max_frames: int = MAX_FRAMES,
    max_total_pixels: int = MAX_TOTAL_PIXELS,
    max_chunks: int = MAX_CHUNKS,
) -> ProbeResult:
    """Validate the file at ``path``; raise ProbeError with the right 4xx otherwise."""
    fmt = sniffed(path)
    walked = walk(path, fmt, max_frames, max_chunks)
    with opened(path, fmt) as (img, fmt):
        width, height = img.size
        check_pixels(width, height, max_pixels)
        counted = frames_of(img, walked)
        check_frames(counted, max_pixels, max_frames, max_total_pixels)
        frames = int(getattr(img, "n_frames", 1) or 1)
        _decode_all(img, frames, max_pixels)
        if frames > 1:
            img.seek(0)
        # Read EXIF only after decoding: some plugins load lazily inside
        # getexif() and swallow the decode error there.
        orientation = orientation_of(img)
    if orientation in _TRANSPOSED:
        width, height = height, width
    return ProbeResult(fmt, width, height, frames)


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ProbeError(422, "invalid_image", "The image has no pixels.")
    if width * height > max_pixels:
        raise ProbeError(
            413,
            "image_too_large",
            f"The image is {width}×{height} ({human_pixels(width * height)}); "
            f"the limit is {human_pixels(max_pixels)}.",
        )


def frames_of(img: Image.Image, walked: Frames | None) -> Frames:
    """Frames and canvas from the container (``walked``, see :func:`walk`), before
    any frame is decoded."""
    if walked is not None and (walked.width or walked.count > 1):
        return walked
    # A JPEG's walk counts its segments only (canvas 0): Pillow's count holds
    # (an MPO file has several pictures); so for a still WebP without VP8X.
    # HEIF/AVIF: libheif/libavif parsed the container on open. HEIF's images
    # may each have their own size (a small primary, a huge second one): the
    # largest bounds them all. An AVIF sequence shares one canvas.
    heif = getattr(img, "_heif_file", None)
    sizes = [image.size for image in heif] if heif is not None else []
    if sizes:
        return Frames(len(sizes), max(w for w, _ in sizes), max(h for _, h in sizes))
    return Frames(int(getattr(img, "n_frames", 1) or 1), *img.size)


def check_frames(counted: Frames, max_pixels: int, max_frames: int, max_total_pixels: int) -> None:
    """Refuse an animation whose frames or decoded pixels exceed the limits."""
    if counted.count > max_frames:
        raise ProbeError(
            413,
            "too_many_frames",
            f"The image has more than {max_frames} frames; the limit is {max_frames}.",
        )
    # The canvas may have grown past the header's size (frames placed outside it).
    check_pixels(max(counted.width, 1), max(counted.height, 1), max_pixels)
    if counted.total_pixels > max_total_pixels:
        raise ProbeError(
            413,
            "image_too_large",
            f"The animation decodes to {human_pixels(counted.total_pixels)} "
            f"({counted.count} frames of {counted.width}×{counted.height}); "
            f"the limit is {human_pixels(max_total_pixels)} in all frames together.",
        )


def _decode_all(img: Image.Image, frames: int, max_pixels: int) -> None:
    """Decode every frame (a truncated or corrupt stream raises here).

    Animation frames may claim extents far outside the canvas, which grows the
    canvas Pillow allocates: each frame's size is checked before it is decoded.
    """
    for index in range(frames):
        if index:
            img.seek(index)
            check_pixels(*img.size, max_pixels)
            for tile in getattr(img, "tile", ()):
                x0, y0, x1, y1 = tile.extents
                check_pixels(max(x1 - x0, 1), max(y1 - y0, 1), max_pixels)
        img.load()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:160]
