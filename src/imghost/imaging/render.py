"""Resize, crop and encode derivatives: the pixels behind every preset and on-demand URL.

Rules every rendition follows:

- Never upscale. When a fit mode would need to enlarge the image, the box is
  shrunk by the same factor instead, so the output keeps the box's aspect ratio
  (a 100x50 image asked for a 256x256 ``cover`` thumbnail gives a 50x50 crop,
  and ``fill`` is capped per side).
- Fit modes, for a ``width``x``height`` box:
  ``inside``  scale to fit inside the box, keep aspect, no padding (output may
              be smaller than the box in one dimension);
  ``contain`` as ``inside``, then pad to exactly the box: transparent bars for
              PNG/WebP/AVIF, white for JPEG;
  ``cover``   scale to cover the box and centre-crop to exactly the box;
  ``fill``    stretch to exactly the box, ignoring aspect.
  With only ``width`` or only ``height`` the aspect is kept whatever the fit;
  with neither the size is unchanged (format conversion only).
- Output carries no metadata at all: no EXIF (so no GPS), XMP or ICC profile.
  Pixels are sRGB (`decode` converted them) and untagged sRGB is what
  browsers assume.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from PIL import Image

from imghost.imaging.decode import MODES, _normalise_mode, decode_upright

Fit = Literal["cover", "contain", "fill", "inside"]
OutFormat = Literal["jpeg", "png", "webp", "avif"]

FITS: tuple[Fit, ...] = get_args(Fit)
FORMATS: tuple[OutFormat, ...] = get_args(OutFormat)
MIME: dict[OutFormat, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
}
#: Quality used by `preset_spec` when the caller gives none (PNG ignores it).
DEFAULT_QUALITY: dict[OutFormat, int] = {"jpeg": 82, "png": 100, "webp": 80, "avif": 60}
#: Largest box side a spec may ask for (WebP itself stops at 16383).
MAX_SIDE = 16383

_RESAMPLE = Image.Resampling.LANCZOS
# Resize first reduces by an integer factor (box filter) while the result stays
# at least this many times the target, then resamples with Lanczos: much
# faster on large sources and indistinguishable from Lanczos alone.
_REDUCING_GAP = 3.0
# render_file resizes smaller presets from an earlier, larger rendition when
# that one is at least this many times the new size (same quality argument).
_CASCADE_GAP = 2.0
_WHITE = 255
# A source within this many pixels of the output size is cropped, not resampled.
_SNAP = 0.5
# Encoder effort: chosen for derivative latency on a small worker (measured on
# the corpus: see tests); quality per byte differs little from the slow ends.
_PROGRESSIVE_FROM = 320  # long edge above which JPEGs are progressive (smaller, render early)
_PNG_LEVEL = 6
# libwebp's method 2 against 4, measured on the corpus's phone photos at the
# 2048 px preset (docs/ARCHITECTURE.md, Processing): 2.2-2.6x less CPU (the
# large WebP was the biggest single cost of an upload), files 1-5 % larger,
# PSNR 0.3-0.6 dB lower. Methods 3 and 4 cost the same; 0 and 1 save little
# more time for files 7-26 % larger.
_WEBP_METHOD = 2
_AVIF_SPEED = 7


@dataclass(frozen=True)
class RenderSpec:
    width: int | None  # None = derive from height and the aspect ratio
    height: int | None
    fit: Fit
    format: OutFormat
    quality: int  # 1..100; used by jpeg, webp and avif

    def __post_init__(self) -> None:
        for side in (self.width, self.height):
            if side is not None and not (isinstance(side, int) and 1 <= side <= MAX_SIDE):
                raise ValueError(f"width and height must be 1..{MAX_SIDE} or None")
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {', '.join(FITS)}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        if not (isinstance(self.quality, int) and 1 <= self.quality <= 100):
            raise ValueError("quality must be 1..100")


@dataclass(frozen=True)
class Rendered:
    data: bytes
    width: int
    height: int
    mime: str


@dataclass(frozen=True)
class Preset:
    width: int
    height: int
    fit: Fit


PRESETS: dict[str, Preset] = {
    "thumb": Preset(256, 256, "cover"),
    "small": Preset(320, 320, "inside"),  # long edge <= 320
    "medium": Preset(1024, 1024, "inside"),
    "large": Preset(2048, 2048, "inside"),
}


def preset_spec(name: str, fmt: OutFormat, quality: int | None = None) -> RenderSpec:
    """The spec of preset ``name`` in ``fmt``; ValueError for an unknown name."""
    preset = PRESETS.get(name)
    if preset is None:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    q = DEFAULT_QUALITY[fmt] if quality is None else quality
    return RenderSpec(preset.width, preset.height, preset.fit, fmt, q)


# -- geometry ---------------------------------------------------------------


@dataclass(frozen=True)
class _Geometry:
    region: tuple[float, float, float, float]  # part of the upright source to use, source px
    size: tuple[int, int]  # what that region is resampled to
    canvas: tuple[int, int]  # output size: size, or the padded box for contain

    @property
    def offset(self) -> tuple[int, int]:
        return ((self.canvas[0] - self.size[0]) // 2, (self.canvas[1] - self.size[1]) // 2)


def _side(value: float, limit: int) -> int:
    return min(limit, max(1, round(value)))


def _geometry(width: int, height: int, spec: RenderSpec) -> _Geometry:
    """Where the output comes from and how big it is, in upright source pixels."""
    full = (0.0, 0.0, float(width), float(height))
    bw, bh = spec.width, spec.height
    if bw is None and bh is None:
        return _Geometry(full, (width, height), (width, height))
    if bw is None or bh is None:
        s = min(1.0, bw / width) if bw is not None else min(1.0, (bh or 1) / height)
        size = (_side(width * s, width), _side(height * s, height))
        return _Geometry(full, size, size)
    if spec.fit == "fill":
        size = (min(bw, width), min(bh, height))
        return _Geometry(full, size, size)
    if spec.fit in ("inside", "contain"):
        s = min(bw / width, bh / height)
        if s >= 1:
            size = (width, height)
            # No upscaling: shrink the box by the factor the image would have
            # grown, so the padded output keeps the box's aspect ratio.
            canvas = (max(width, round(bw / s)), max(height, round(bh / s)))
        else:
            size = (_side(width * s, bw), _side(height * s, bh))
            canvas = (bw, bh)
        return _Geometry(full, size, canvas if spec.fit == "contain" else size)
    # cover
    s = max(bw / width, bh / height)
    if s > 1:
        out = (_side(bw / s, width), _side(bh / s, height))
        rw, rh = float(out[0]), float(out[1])
    else:
        out = (bw, bh)
        rw, rh = min(width, bw / s), min(height, bh / s)
    x0, y0 = (width - rw) / 2, (height - rh) / 2
    if s > 1:  # a 1:1 crop: keep it on whole pixels so no resampling happens
        x0, y0 = float(math.floor(x0)), float(math.floor(y0))
    return _Geometry((x0, y0, x0 + rw, y0 + rh), out, out)


# -- pixels -----------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    image: Image.Image  # the whole upright frame at some scale
    sx: float  # image pixels per source pixel, horizontally
    sy: float


def _resample(source: _Source, geometry: _Geometry) -> Image.Image:
    x0, y0, x1, y1 = geometry.region
    box = (x0 * source.sx, y0 * source.sy, x1 * source.sx, y1 * source.sy)
    w, h = geometry.size
    fits = w <= source.image.width and h <= source.image.height
    if fits and abs(box[2] - box[0] - w) <= _SNAP and abs(box[3] - box[1] - h) <= _SNAP:
        # Already at the output scale (to within half a pixel): crop whole
        # pixels instead of resampling, which would only blur.
        left = min(max(0, round(box[0])), source.image.width - w)
        top = min(max(0, round(box[1])), source.image.height - h)
        if (left, top, w, h) == (0, 0, *source.image.size):
            return source.image
        return source.image.crop((left, top, left + w, top + h))
    return source.image.resize(geometry.size, _RESAMPLE, box=box, reducing_gap=_REDUCING_GAP)


def _pad(img: Image.Image, geometry: _Geometry, fmt: OutFormat) -> Image.Image:
    if geometry.canvas == geometry.size:
        return img
    if fmt == "jpeg":
        mode = "L" if img.mode in ("L", "LA") else "RGB"
        canvas = Image.new(mode, geometry.canvas, _WHITE if mode == "L" else (_WHITE,) * 3)
    else:
        mode = "LA" if img.mode in ("L", "LA") else "RGBA"
        canvas = Image.new(mode, geometry.canvas, (0, 0) if mode == "LA" else (0, 0, 0, 0))
    canvas.paste(img.convert(mode) if fmt != "jpeg" else _flatten(img), geometry.offset)
    return canvas


def _flatten(img: Image.Image) -> Image.Image:
    """Composite onto white (JPEG has no alpha)."""
    if img.mode not in ("RGBA", "LA"):
        return img
    base = Image.new(img.mode[:-1], img.size, _WHITE if img.mode == "LA" else (_WHITE,) * 3)
    base.paste(img, mask=img.getchannel("A"))
    return base


def _drop_opaque_alpha(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA") and img.getchannel("A").getextrema() == (255, 255):
        return img.convert(img.mode[:-1])
    return img


def _encode(img: Image.Image, spec: RenderSpec) -> bytes:
    img = _drop_opaque_alpha(img)
    buf = io.BytesIO()
    # Nothing from the source may ride along. Pillow's JPEG encoder falls back
    # to im.info for the comment, PNG and AVIF for the ICC profile: the
    # explicit empty values below stop that without copying the pixels.
    if spec.format == "jpeg":
        img = _flatten(img)
        img.save(
            buf,
            "JPEG",
            quality=spec.quality,
            optimize=False,
            progressive=max(img.size) > _PROGRESSIVE_FROM,
            comment=b"",
        )
    elif spec.format == "png":
        img.save(buf, "PNG", compress_level=_PNG_LEVEL, icc_profile=None)
    else:
        if img.mode in ("L", "LA"):  # neither encoder takes greyscale
            img = img.convert("RGBA" if img.mode == "LA" else "RGB")
        if spec.format == "webp":
            img.save(buf, "WEBP", quality=spec.quality, method=_WEBP_METHOD)
        else:
            img.save(buf, "AVIF", quality=spec.quality, speed=_AVIF_SPEED, icc_profile=None)
    return buf.getvalue()


def _render(source: _Source, source_size: tuple[int, int], spec: RenderSpec) -> Rendered:
    geometry = _geometry(*source_size, spec)
    pixels = _pad(_resample(source, geometry), geometry, spec.format)
    return Rendered(_encode(pixels, spec), *geometry.canvas, MIME[spec.format])


def render(img: Image.Image, spec: RenderSpec) -> Rendered:
    """Render ``img`` (from `decode.open_upright`: upright, sRGB) as ``spec`` says."""
    if img.mode not in MODES:  # a caller's own image: P, CMYK, I;16... (no colour management)
        img = _normalise_mode(img)
        if img.mode == "CMYK":
            img = img.convert("RGB")
    return _render(_Source(img, 1.0, 1.0), img.size, spec)


def _needed(width: int, height: int, spec: RenderSpec) -> tuple[int, int]:
    """The smallest upright size of the whole frame that ``spec`` can be rendered from."""
    g = _geometry(width, height, spec)
    x0, y0, x1, y1 = g.region
    if (x0, y0, x1, y1) == (0, 0, width, height):
        return g.size
    sx, sy = g.size[0] / (x1 - x0), g.size[1] / (y1 - y0)
    return (min(width, math.ceil(width * sx - 1e-9)), min(height, math.ceil(height * sy - 1e-9)))


@dataclass(frozen=True)
class Prepared:
    """The pixels of each spec of a `prepare_file` call, ready for `encode`."""

    pixels: list[Image.Image]  # in the order of the specs; specs alike share one image
    seconds: list[float]  # resampling (and padding) per spec; 0 for one that shared another's
    decode_seconds: float  # the one decode (and its colour conversion)


def render_file(
    path: Path,
    specs: list[RenderSpec],
    max_pixels: int,
    inspect: Callable[[Image.Image], None] | None = None,
) -> list[Rendered]:
    """Decode ``path`` once and render every spec; results in the order of ``specs``.
    ``inspect``: called with the decoded (upright, possibly reduced) image
    before any render, for other work on the same pixels (the PDQ hash).
    Raises ProbeError like `decode.open_upright`."""
    prepared = prepare_file(path, specs, max_pixels, inspect)
    return [encode(img, spec) for img, spec in zip(prepared.pixels, specs, strict=True)]


def encode(img: Image.Image, spec: RenderSpec) -> Rendered:
    """Encode pixels of `prepare_file` (never changed: they may be shared)."""
    return Rendered(_encode(img, spec), img.width, img.height, MIME[spec.format])


def prepare_file(
    path: Path,
    specs: list[RenderSpec],
    max_pixels: int,
    inspect: Callable[[Image.Image], None] | None = None,
) -> Prepared:
    """`render_file` up to the encoders: decode once, resample for every spec.

    A JPEG is decoded at the smallest DCT scale that still covers the largest
    spec; each smaller rendition is resampled from the smallest earlier whole-frame
    rendition at least twice its size, rather than from the full-size decode,
    and specs of the same geometry (a preset's JPEG and WebP) share one
    resampling. The encoders are left to the caller, which may run them in
    another order or another process (the processing job encodes the thumbnail
    first and the rest after storing it).
    """
    if not specs:
        return Prepared([], [], 0.0)

    def plan(width: int, height: int) -> tuple[int, int]:
        needs = [_needed(width, height, spec) for spec in specs]
        return (max(n[0] for n in needs), max(n[1] for n in needs))

    started = time.perf_counter()
    decoded = decode_upright(path, max_pixels, plan)
    decode_seconds = time.perf_counter() - started
    if inspect is not None:
        inspect(decoded.image)
    width, height = decoded.source_size
    sources = [_Source(decoded.image, *decoded.scale)]
    order = sorted(
        range(len(specs)),
        key=lambda i: _needed(width, height, specs[i]),
        reverse=True,
    )
    pixels: dict[int, Image.Image] = {}
    seconds = [0.0] * len(specs)
    # Geometry and padding → pixels: a preset's JPEG and WebP are resampled once.
    made: dict[tuple[_Geometry, str | None], Image.Image] = {}
    for index in order:
        spec = specs[index]
        geometry = _geometry(width, height, spec)
        padding = None if geometry.canvas == geometry.size else _pad_kind(spec.format)
        if (geometry, padding) in made:
            pixels[index] = made[geometry, padding]
            continue
        started = time.perf_counter()
        need = _needed(width, height, spec)
        source = min(
            (
                s
                for s in sources
                if s is sources[0]
                or (
                    s.image.width >= _CASCADE_GAP * need[0]
                    and s.image.height >= _CASCADE_GAP * need[1]
                )
            ),
            key=lambda s: s.image.width * s.image.height,
        )
        resized = _resample(source, geometry)
        if geometry.region == (0.0, 0.0, float(width), float(height)):  # a whole frame
            sources.append(_Source(resized, resized.width / width, resized.height / height))
        pixels[index] = made[geometry, padding] = _pad(resized, geometry, spec.format)
        seconds[index] = time.perf_counter() - started
    return Prepared([pixels[i] for i in range(len(specs))], seconds, decode_seconds)


def _pad_kind(fmt: OutFormat) -> str:
    """What `_pad` fills with: white for JPEG, transparency for the others."""
    return "white" if fmt == "jpeg" else "transparent"
