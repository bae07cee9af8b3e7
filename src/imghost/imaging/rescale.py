"""Render from a smaller copy of an image as if from the image itself.

A stored preset (``large``, ``medium``, ``small``) is the whole upright frame
of the original, in sRGB, without metadata, scaled by about ``pw/W`` and
``ph/H``. That is what `render.render_file` works from after a reduced
decode: the geometry is computed in the original's pixels and mapped into the
smaller picture. So a spec rendered here has exactly the size (and crop) the
original would give it; only the pixels differ, by what the copy's lossy
encoding lost.

A copy is used only when it *covers* the spec: it holds at least the pixels
the output needs (`covers`), so nothing is upscaled that the original would
have rendered sharper.
"""

from __future__ import annotations

from pathlib import Path

from imghost.imaging.decode import decode_upright

# The geometry is render's own, so both paths size and crop alike.
from imghost.imaging.render import Rendered, RenderSpec, _geometry, _needed, _render, _Source


def whole_frame_size(width: int, height: int, spec: RenderSpec) -> tuple[int, int] | None:
    """The size of ``spec`` rendered from a ``width``x``height`` upright image,
    when that output is the whole frame (no crop, no padding); else None."""
    geometry = _geometry(width, height, spec)
    if geometry.region != (0.0, 0.0, float(width), float(height)):
        return None
    if geometry.canvas != geometry.size:
        return None
    return geometry.size


def covers(full: tuple[int, int], copy: tuple[int, int], spec: RenderSpec) -> bool:
    """True when a whole-frame ``copy`` of a ``full``-size image has at least
    the pixels ``spec`` needs from it, in both directions."""
    need = _needed(*full, spec)
    return copy[0] >= need[0] and copy[1] >= need[1]


def _same_picture(full: tuple[int, int], copy: tuple[int, int]) -> bool:
    """The copy's aspect is the original's, to the pixel its sides were rounded
    to (a transposed or foreign picture is not)."""
    (width, height), (cw, ch) = full, copy
    return abs(ch * width - cw * height) <= width + height


def render_from_copy(
    path: Path, full: tuple[int, int], spec: RenderSpec, max_pixels: int
) -> Rendered | None:
    """Render ``spec`` for an image of upright size ``full`` from the smaller,
    upright whole-frame copy at ``path``. None when the copy turns out not to
    be one that covers the spec (its size does not match): the caller renders
    from the original instead. Raises ProbeError like `decode.decode_upright`.
    """
    width, height = full
    need = _needed(width, height, spec)

    def plan(_cw: int, _ch: int) -> tuple[int, int]:
        # The smallest whole frame the output can come from (a JPEG copy may
        # then be decoded at a reduced DCT scale).
        return need

    decoded = decode_upright(path, max_pixels, plan)
    copy = decoded.source_size
    if not _same_picture(full, copy) or not covers(full, copy, spec):
        return None
    sx, sy = decoded.scale
    # Image pixels per *original* pixel: the copy's own scale times the decode's.
    source = _Source(decoded.image, sx * copy[0] / width, sy * copy[1] / height)
    return _render(source, full, spec)
