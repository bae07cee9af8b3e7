"""Names and blob keys of derivatives, and the on-demand transform grammar.

Presets: ``/images/{id}/{thumb|small|medium|large}.{jpg|webp|avif}``.
Transforms: ``/images/{id}/t/{options}.{jpg|png|webp|avif|auto}`` where
``options`` is a comma-separated list of ``key_value``:

- ``w_<1..4096>`` width, ``h_<1..4096>`` height (at least one of them);
- ``c_<cover|contain|fill|inside>`` fit (default ``inside``);
- ``q_<1..100>`` quality (default 82; ignored for PNG).

Example: ``/images/img_x/t/w_640,h_360,c_cover,q_75.webp``. Options are put in
canonical order before the derivative is stored, so equivalent URLs share one
stored rendition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from imghost.errors import AppError
from imghost.imaging.render import Fit, OutFormat, RenderSpec, preset_spec

PRESETS = ("thumb", "small", "medium", "large")
PRESET_EXTENSIONS = ("jpg", "webp", "avif")
# Made by the processing job right after upload; AVIF (slow to encode) and
# every transform are made on first request and stored.
PREGENERATED = tuple((name, ext) for name in PRESETS for ext in ("jpg", "webp"))

EXT_FORMAT: dict[str, OutFormat] = {
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "png": "png",
    "webp": "webp",
    "avif": "avif",
}
FORMAT_EXT: dict[str, str] = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif"}
FITS = ("cover", "contain", "fill", "inside")
MAX_SIDE = 4096
DEFAULT_QUALITY = 82
# Bumped when rendering changes, so derivative ETags change with it.
RENDER_VERSION = 1


def derived_key(original_key: str, name: str) -> str:
    """``{owner}/{image}/original`` → ``{owner}/{image}/derived/v{RENDER_VERSION}/{name}``.

    The render version is part of the key, so a renderer change never serves
    renditions made by the old one under the new ETag.
    """
    base = original_key.rsplit("/", 1)[0]
    return f"{base}/derived/v{RENDER_VERSION}/{name}"


def preset_name(preset: str, ext: str) -> str:
    return f"{preset}.{ext}"


def preset_render_spec(preset: str, ext: str) -> RenderSpec:
    return preset_spec(preset, EXT_FORMAT[ext])


@dataclass(frozen=True)
class Transform:
    width: int | None
    height: int | None
    fit: Fit
    quality: int

    def canonical(self) -> str:
        parts = []
        if self.width:
            parts.append(f"w_{self.width}")
        if self.height:
            parts.append(f"h_{self.height}")
        parts.append(f"c_{self.fit}")
        parts.append(f"q_{self.quality}")
        return ",".join(parts)

    def spec(self, fmt: OutFormat) -> RenderSpec:
        return RenderSpec(
            width=self.width, height=self.height, fit=self.fit, format=fmt, quality=self.quality
        )


def _bad(detail: str) -> AppError:
    return AppError(
        400,
        "invalid_transform",
        f"{detail} Grammar: /images/{{id}}/t/w_<px>,h_<px>,c_<fit>,q_<1-100>"
        ".<jpg|png|webp|avif|auto>.",
    )


def parse_transform(options: str) -> Transform:
    values: dict[str, str] = {}
    for part in options.split(","):
        key, sep, value = part.partition("_")
        if not sep or key not in ("w", "h", "c", "q") or not value:
            raise _bad(f"Unknown transform option {part!r}.")
        if key in values:
            raise _bad(f"Option {key!r} is given twice.")
        values[key] = value

    def number(key: str, low: int, high: int) -> int | None:
        if key not in values:
            return None
        raw = values[key]
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            raise _bad(f"{key}_ must be a whole number from {low} to {high}.")
        return int(raw)

    width = number("w", 1, MAX_SIDE)
    height = number("h", 1, MAX_SIDE)
    if width is None and height is None:
        raise _bad("Give a width (w_) or a height (h_).")
    fit = values.get("c", "inside")
    if fit not in FITS:
        raise _bad(f"c_ must be one of {', '.join(FITS)}.")
    quality = number("q", 1, 100) or DEFAULT_QUALITY
    return Transform(width, height, cast(Fit, fit), quality)


def negotiate(accept: str) -> Literal["avif", "webp", "jpeg"]:
    """``auto``: AVIF, then WebP, then JPEG, by what the Accept header allows."""
    offered = {
        item.split(";")[0].strip().lower(): item for item in accept.split(",") if item.strip()
    }

    def allowed(mime: str) -> bool:
        item = offered.get(mime)
        if item is None:
            return False
        for param in item.split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return True
        return True

    if allowed("image/avif"):
        return "avif"
    if allowed("image/webp"):
        return "webp"
    return "jpeg"
