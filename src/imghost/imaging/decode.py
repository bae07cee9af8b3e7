"""Decode an accepted image into upright, 8-bit, sRGB pixels ready for resizing.

Everything downstream (derivatives, placeholders, colours) works on what this
module returns, so it settles the awkward parts of real files in one place:
the first frame of an animation, EXIF orientation, embedded colour profiles
(Display P3 from iPhones, Adobe RGB from cameras, CMYK from print workflows)
and unusual pixel modes (16-bit, palettes, CMYK). The result's mode is always
one of ``RGB``, ``RGBA``, ``L`` or ``LA``: greyscale stays greyscale because it
is a third of the work and every encoder we use accepts it (render converts
where a format needs it).

The result carries no metadata (``info`` is emptied) so no EXIF, XMP or ICC
profile can leak into an encoder that copies ``im.info`` when saving.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageCms

from imghost.imaging.probe import check_pixels, opened, orientation_of

#: Result modes of `open_upright`.
MODES = ("RGB", "RGBA", "L", "LA")

# EXIF orientation -> the transpose that makes the pixels upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TRANSPOSED = {5, 6, 7, 8}

_RESAMPLE = Image.Resampling.LANCZOS
# Reduce by an integer factor (box filter) while staying at least this many
# times the target, then Lanczos: much faster from large sources, same result.
_REDUCING_GAP = 3.0

#: Given the upright size of the full image, the smallest upright size the caller needs.
Plan = Callable[[int, int], tuple[int, int] | None]


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # upright, sRGB, mode in MODES, no metadata in ``info``
    source_size: tuple[int, int]  # upright size of the full-resolution image
    # Image pixels per source pixel along the upright x and y axes: 1.0 for a
    # full-size decode, less when a plan let the decoder reduce.
    scale: tuple[float, float]


def open_upright(path: Path, max_pixels: int, target: tuple[int, int] | None = None) -> Image.Image:
    """Open the first frame of the image at ``path``: upright, sRGB, mode in `MODES`.

    ``target`` is the smallest upright size the caller will use: the image may
    then be decoded smaller than the file (a JPEG at a reduced DCT scale, 1/2 to
    1/8), but never below ``target`` in either dimension. Use `decode_upright`
    to learn the scale.

    Raises ProbeError (413 over ``max_pixels``, 415 not an accepted format,
    422 undecodable), like `probe.probe`.
    """
    plan: Plan | None = None
    if target is not None:
        wanted = target

        def plan(_w: int, _h: int) -> tuple[int, int]:
            return wanted

    return decode_upright(path, max_pixels, plan).image


def decode_upright(path: Path, max_pixels: int, plan: Plan | None = None) -> Decoded:
    """`open_upright`, with the reduction chosen once the upright size is known.

    ``plan(width, height)`` receives the upright size of the full image and
    returns the smallest upright size needed (or None for full size). Callers
    that produce several sizes from one decode use this to ask for the largest.

    With a plan, a JPEG is decoded at the smallest DCT scale that still covers
    it, and an image still at least twice the planned area is resampled
    (Lanczos) to exactly the planned size *before* colour conversion, which
    then costs a fraction: a 12 MP Display P3 photo for a 2048 px preset
    converts 3 MP instead of 12.
    """
    with opened(path) as (img, _fmt):
        return _decode(img, max_pixels, plan)


def _decode(img: Image.Image, max_pixels: int, plan: Plan | None) -> Decoded:
    # The opened frame is the first one (for HEIF: the primary image), so no seek.
    width, height = img.size
    check_pixels(width, height, max_pixels)
    for tile in getattr(img, "tile", ()):  # a first frame may claim extents beyond the canvas
        x0, y0, x1, y1 = tile.extents
        check_pixels(max(x1 - x0, 1), max(y1 - y0, 1), max_pixels)

    # The planned size, in the stored (not yet upright) orientation. Reading
    # JPEG EXIF does not decode pixels; other plugins may decode inside
    # getexif() and swallow a decode error there, so they wait for load().
    target: tuple[int, int] | None = None
    if plan is not None and img.format == "JPEG":
        target = _stored_target(plan, width, height, orientation_of(img))
    scale = 1.0
    if target is not None and target[0] < width and target[1] < height:
        drafted = img.draft(None, target)
        if drafted is not None:
            scale = drafted[1][2] / width  # the box is (0, 0, width/s, height/s)

    img.load()
    orientation = orientation_of(img)
    if plan is not None and target is None:
        target = _stored_target(plan, width, height, orientation)
    icc = img.info.get("icc_profile")

    out = _normalise_mode(img)
    sx = sy = scale
    if target is not None:
        # One factor for both axes (keep the aspect), large enough for both.
        s = max(target[0] / width, target[1] / height)
        size = (_ceil(width * s, width), _ceil(height * s, height))
        if out.width * out.height >= 2 * size[0] * size[1]:
            box = (0.0, 0.0, width * scale, height * scale)
            out = out.resize(size, _RESAMPLE, box=box, reducing_gap=_REDUCING_GAP)
            sx, sy = size[0] / width, size[1] / height
    out = _to_srgb(out, icc if isinstance(icc, bytes) else None)
    if orientation in _UPRIGHT:
        out = out.transpose(_UPRIGHT[orientation])
    if out is img:
        out = img.copy()  # detach from the file, which closes when we return
    out.info = {}
    if orientation in _TRANSPOSED:
        return Decoded(out, (height, width), (sy, sx))
    return Decoded(out, (width, height), (sx, sy))


def _ceil(value: float, limit: int) -> int:
    return min(limit, max(1, math.ceil(value - 1e-9)))  # 1e-9: float noise is not a pixel


def _stored_target(plan: Plan, width: int, height: int, orientation: int) -> tuple[int, int] | None:
    """Ask the plan (which thinks upright) and answer in stored orientation, capped at full size."""
    transposed = orientation in _TRANSPOSED
    wanted = plan(*((height, width) if transposed else (width, height)))
    if wanted is None:
        return None
    tw, th = (wanted[1], wanted[0]) if transposed else wanted
    if tw <= 0 or th <= 0:
        return None
    return (min(tw, width), min(th, height))


def _normalise_mode(img: Image.Image) -> Image.Image:
    """Bring any mode to RGB, RGBA, L, LA or CMYK (CMYK is converted with its profile later)."""
    mode = img.mode
    if mode in ("RGB", "L") and "transparency" in img.info:  # a colour-key transparency (tRNS)
        return img.convert("RGBA" if mode == "RGB" else "LA")
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # Pillow's I -> L conversion clips at 255 instead of scaling: map the
        # 16-bit range onto 8 bits ourselves.
        wide = img if mode == "I" else img.convert("I")
        return wide.point(lambda v: v / 256).convert("L")
    if mode == "F":
        return img.convert("L")
    if mode == "1":
        return img.convert("L")
    if mode in ("P", "PA"):
        return img.convert("RGBA" if img.has_transparency_data else "RGB")
    if mode == "La":
        return img.convert("LA")
    if mode == "RGBa":
        return img.convert("RGBA")
    return img.convert("RGBA" if img.has_transparency_data else "RGB")


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    """An sRGB profile by name and by primaries: converting from it would only cost time."""
    p = profile.profile
    if p.xcolor_space.strip() != "RGB" or not p.is_matrix_shaper:
        return False
    if not (p.profile_description or "").lower().startswith("srgb"):
        return False
    reference = _srgb().profile
    pairs = (
        (p.red_colorant, reference.red_colorant),
        (p.green_colorant, reference.green_colorant),
        (p.blue_colorant, reference.blue_colorant),
    )
    for ours, theirs in pairs:
        if ours is None or theirs is None:
            return False
        if any(abs(a - b) > 0.002 for a, b in zip(ours[0], theirs[0], strict=True)):
            return False
    return True


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@lru_cache(maxsize=16)
def _transform(icc: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform | None:
    """A transform from the embedded profile to sRGB, or None when none is needed or possible.

    Cached by profile bytes: a batch of photos from one camera shares one profile.
    """
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if in_mode in ("RGB", "RGBA") and _is_srgb(profile):
            return None
        return ImageCms.buildTransform(
            profile,
            _srgb(),
            in_mode,
            out_mode,
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
        )
    except Exception:  # a broken or mismatched profile: show the pixels as they are
        return None


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert through the embedded profile to sRGB; result mode in `MODES`."""
    mode = img.mode
    out_mode = {"CMYK": "RGB", "L": "RGB", "LA": "RGBA"}.get(mode, mode)
    transform = None
    if icc:
        # A grey profile (e.g. "Dot Gain 20%") changes tones: then greyscale
        # becomes RGB through it; plain greyscale stays greyscale.
        source = "L" if mode == "LA" else mode
        transform = _transform(icc, source, "RGB" if mode in ("L", "LA") else out_mode)
    if transform is None:
        return img.convert("RGB") if mode == "CMYK" else img
    try:
        if mode == "LA":
            rgb = ImageCms.applyTransform(img.convert("L"), transform)
            if rgb is None:
                return img
            rgb.putalpha(img.getchannel("A"))
            return rgb
        converted = ImageCms.applyTransform(img, transform)
    except Exception:  # a profile LittleCMS accepts but cannot apply
        converted = None
    if converted is None:
        return img.convert("RGB") if mode == "CMYK" else img
    return converted
