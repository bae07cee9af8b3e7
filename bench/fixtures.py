"""Test images generated on the fly (never committed).

A JPEG's size depends on how much detail it holds. To hit a target size at a
fixed resolution and quality, the image is a smooth gradient blended with
random noise, and the noise weight is bisected until the encoded size lands
within a tolerance of the target. The seed makes the bytes reproducible.

The tus section's large image is a PNG of pure noise stored without
compression, written to disk: its size follows from its dimensions.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class JpegFixture:
    data: bytes
    width: int
    height: int
    quality: int
    noise: float  # weight of the noise layer, 0..1

    @property
    def size(self) -> int:
        return len(self.data)

    def as_json(self) -> dict[str, float | int]:
        return {
            "bytes": self.size,
            "width": self.width,
            "height": self.height,
            "quality": self.quality,
            "noise_weight": round(self.noise, 4),
        }


def _encode(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _gradient(width: int, height: int) -> Image.Image:
    horizontal = Image.linear_gradient("L").resize((width, height))
    vertical = horizontal.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    inverted = Image.eval(horizontal, lambda v: 255 - v)
    return Image.merge("RGB", (horizontal, vertical, inverted))


def make_jpeg(
    target_bytes: int,
    width: int,
    height: int,
    *,
    quality: int = 95,
    tolerance: float = 0.03,
    seed: int = 1,
) -> JpegFixture:
    """A ``width`` by ``height`` JPEG whose size is ``target_bytes`` ± ``tolerance``."""
    noise = Image.frombytes(
        "RGB", (width, height), random.Random(seed).randbytes(width * height * 3)
    )
    base = _gradient(width, height)
    low, high = 0.0, 1.0
    data = _encode(noise, quality)
    if len(data) < target_bytes * (1 - tolerance):
        raise ValueError(
            f"{width}×{height} at quality {quality} gives at most {len(data)} bytes; "
            f"{target_bytes} needs more pixels"
        )
    weight = 1.0
    for _ in range(16):
        if abs(len(data) - target_bytes) <= target_bytes * tolerance:
            break
        weight = (low + high) / 2
        data = _encode(Image.blend(base, noise, weight), quality)
        if len(data) > target_bytes:
            high = weight
        else:
            low = weight
    else:
        raise RuntimeError(f"could not reach {target_bytes} bytes (last: {len(data)})")
    return JpegFixture(data=data, width=width, height=height, quality=quality, noise=weight)


@dataclass(frozen=True)
class FileFixture:
    """A generated image on disk, streamed by the client rather than held in memory."""

    path: Path
    size: int
    width: int
    height: int
    sha256: str
    kind: str

    def as_json(self) -> dict[str, object]:
        return {
            "bytes": self.size,
            "width": self.width,
            "height": self.height,
            "sha256": self.sha256,
            "kind": self.kind,
        }


def write_noise_png(path: Path, width: int, height: int, *, seed: int = 1) -> FileFixture:
    """An RGB PNG of random pixels with no compression (zlib level 0): its size is
    about ``width * height * 3`` bytes, and every byte is a valid image's."""
    pixels = random.Random(seed).randbytes(width * height * 3)
    Image.frombytes("RGB", (width, height), pixels).save(path, "PNG", compress_level=0)
    del pixels
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return FileFixture(
        path=path,
        size=path.stat().st_size,
        width=width,
        height=height,
        sha256=digest.hexdigest(),
        kind=f"PNG {width}×{height} RGB noise, compress_level 0",
    )
