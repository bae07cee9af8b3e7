"""The images the processing benchmark renders: three from the shared corpus, two generated.

The corpus directory is ``$IMGHOST_CORPUS``, else ``../shared/corpus`` next to
the repository. Every image is copied (or written) into one working directory
under a plain name, so imghost and thumbor's file loader read the same bytes.
"""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench.fixtures import _gradient
from bench.machine import REPO
from imghost.imaging.sniff import SNIFF_BYTES, sniff

LARGE_FILE_BYTES = 5_000_000  # the seed's floor: < 3 s below this size, < 10 s above
FLOOR_SMALL_MS = 3_000.0
FLOOR_LARGE_MS = 10_000.0


class SourceError(RuntimeError):
    """A corpus file is missing."""


@dataclass(frozen=True)
class SourceImage:
    key: str  # short, stable name used in tables and JSON
    label: str
    path: Path
    format: str  # as imghost sniffs it: jpeg, heic, png, gif
    width: int
    height: int
    frames: int
    bytes: int

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def floor_ms(self) -> float:
        return FLOOR_LARGE_MS if self.bytes >= LARGE_FILE_BYTES else FLOOR_SMALL_MS

    def describe(self) -> str:
        frames = f", {self.frames} frames" if self.frames > 1 else ""
        return (
            f"{self.format.upper()} {self.width}×{self.height} "
            f"({self.megapixels:.1f} MP{frames}), {self.bytes / 1e6:.2f} MB"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "file": self.path.name,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "bytes": self.bytes,
            "megapixels": round(self.megapixels, 2),
            "floor_ms": self.floor_ms,
        }


# key, label, path inside the corpus, name in the working directory
CORPUS_FILES = (
    ("nokia-jpeg", "HMD Nokia 8.3 5G photo", "exif/HMD_Nokia_8.3_5G.jpg", "nokia.jpg"),
    ("iphone-heic", "iPhone 13 Pro Max photo", "heic/iphone_13_pro_max.HEIC", "iphone.heic"),
    ("chi-gif", "animated GIF", "formats/chi.gif", "chi.gif"),
)


def corpus_dir() -> Path:
    configured = os.environ.get("IMGHOST_CORPUS")
    return Path(configured).expanduser() if configured else REPO.parent / "shared" / "corpus"


def _describe(key: str, label: str, path: Path) -> SourceImage:
    with open(path, "rb") as fh:
        fmt = sniff(fh.read(SNIFF_BYTES))
    if fmt is None:
        raise SourceError(f"{path} is not an image format imghost accepts")
    if fmt.name in ("heic", "heif"):
        from pillow_heif import register_heif_opener

        register_heif_opener()
    with Image.open(path) as img:
        width, height = img.size
        frames = getattr(img, "n_frames", 1)
    return SourceImage(key, label, path, fmt.name, width, height, frames, path.stat().st_size)


def make_photo_jpeg(path: Path, width: int = 6000, height: int = 4000, quality: int = 90) -> None:
    """A camera-sized JPEG: gradient, blotches (upscaled coarse noise) and fine grain."""
    rng = random.Random(24)
    coarse_size = (width // 40, height // 40)
    coarse = Image.frombytes("RGB", coarse_size, rng.randbytes(coarse_size[0] * coarse_size[1] * 3))
    coarse = coarse.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    image = Image.blend(Image.blend(_gradient(width, height), coarse, 0.5), grain, 0.12)
    image.save(path, "JPEG", quality=quality)


def make_alpha_png(path: Path, side: int = 2000) -> None:
    """An RGBA PNG: gradient with grain, alpha a radial fade (transparent corners)."""
    rng = random.Random(7)
    grain = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    rgb = Image.blend(_gradient(side, side), grain, 0.08)
    alpha = Image.radial_gradient("L").resize((side, side), Image.Resampling.BICUBIC)
    alpha = alpha.point(lambda v: max(0, 255 - v * 2))
    rgb.putalpha(alpha)
    rgb.save(path, "PNG", compress_level=6)


def prepare(workdir: Path) -> list[SourceImage]:
    """Copy the corpus images and generate the others into ``workdir``."""
    root = corpus_dir()
    images: list[SourceImage] = []
    for key, label, relative, name in CORPUS_FILES:
        source = root / relative
        if not source.is_file():
            raise SourceError(
                f"{source} not found: set IMGHOST_CORPUS to the shared corpus directory"
            )
        target = workdir / name
        shutil.copyfile(source, target)
        images.append(_describe(key, f"{label} (corpus {relative})", target))
    photo = workdir / "photo24.jpg"
    make_photo_jpeg(photo)
    images.insert(2, _describe("gen-24mp-jpeg", "generated 24 MP JPEG, q90", photo))
    alpha = workdir / "alpha.png"
    make_alpha_png(alpha)
    images.insert(3, _describe("gen-alpha-png", "generated RGBA PNG", alpha))
    return images
