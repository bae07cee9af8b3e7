"""Which stored blob a rendition made on request is rendered from.

Decoding the original is most of a cold transform's cost: a 12 MP HEIC takes
0.4 s and more to decode for every new size. The processing job has already
stored the whole picture, upright and in sRGB, at 320, 1024 and 2048 px
(``small``, ``medium``, ``large``), so a transform or an AVIF preset is made
from the smallest of those that *covers* it (has at least the pixels the
output needs, see `imaging.rescale.covers`) and from the original otherwise,
e.g. ``w_4000`` of a 6000 px photo. The output's size and crop are the ones
the original would give (`imaging.rescale.render_from_copy`); its pixels went
through one more lossy encoding, which a downscale mostly averages away.

The original is used, whatever the size, when

- the output is PNG: who asks for a lossless format gets the original's pixels;
- the original is PNG or GIF: these usually hold graphics (text, flat
  colour, sharp edges), where the presets' lossy artefacts show, and they
  decode quickly anyway;
- the original is animated: the presets hold its first frame only (a HEIF
  collection is not an animation: its presets are of its primary image);
- no preset is smaller than the original (a small image's presets are the
  original's size: nothing to gain);
- the preset is missing (still processing, or lost) or cannot be decoded.

The JPEG preset is read when the image has no alpha channel (it decodes in
half the time of the WebP, and at a reduced scale); the WebP one, which keeps
alpha, otherwise or when that is not known.
"""

from __future__ import annotations

from dataclasses import dataclass

from imghost.imaging.render import RenderSpec
from imghost.imaging.rescale import covers, whole_frame_size
from imghost.processing.variants import derived_key, preset_name, preset_render_spec

# The presets that hold the whole frame, smallest first (thumb is a square crop).
WHOLE_FRAME_PRESETS = ("small", "medium", "large")
# Originals whose presets may stand in for them: photo formats, lossy already
# (WebP may be lossless, but is mostly photos).
PHOTO_FORMATS = frozenset({"jpeg", "heic", "heif", "avif", "webp"})
# Formats whose extra "frames" are other images of a collection, not an animation.
COLLECTIONS = frozenset({"heic", "heif"})


@dataclass(frozen=True)
class Original:
    """What the choice needs to know of the image (sizes upright)."""

    image_id: str
    key: str
    width: int
    height: int
    frames: int
    format: str

    @property
    def pixels(self) -> int:
        return self.width * self.height * max(self.frames, 1)


@dataclass(frozen=True)
class PresetSource:
    key: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def may_use_presets(original: Original, spec: RenderSpec) -> bool:
    """False when the rules above send ``spec`` to the original whatever its size."""
    animated = original.frames > 1 and original.format not in COLLECTIONS
    return (
        spec.format != "png"
        and original.format in PHOTO_FORMATS
        and not animated
        and original.width > 0
        and original.height > 0
    )


def preset_source(original: Original, spec: RenderSpec, alpha: bool | None) -> PresetSource | None:
    """The smallest stored preset ``spec`` can be rendered from, or None for
    the original. ``alpha``: whether the image has an alpha channel (None: not
    known)."""
    if not may_use_presets(original, spec):
        return None
    full = (original.width, original.height)
    ext = "jpg" if alpha is False else "webp"
    for name in WHOLE_FRAME_PRESETS:
        size = whole_frame_size(*full, preset_render_spec(name, ext))
        if size is None or size[0] >= original.width or size[1] >= original.height:
            return None  # this one and every larger one are the original's size
        if covers(full, size, spec):
            return PresetSource(derived_key(original.key, preset_name(name, ext)), *size)
    return None
