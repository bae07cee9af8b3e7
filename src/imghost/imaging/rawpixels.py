"""Decoded pixels kept in a file between two pixel calls, uncompressed.

The processing job encodes an image's thumbnail in one call and its other
presets in the next (its thumbnail is stored in between); where the second
call cannot decode cheaply again (HEIC, PNG: no reduced decoding), the first
leaves it the resampled pixels here. Writing and reading a 2048 px rendition
costs a few milliseconds; decoding a 12 MP HEIC again costs half a second.

The file is the job's own, in its staging directory: a JSON header line
naming each image's mode and size, then their bytes one after another.
Images that appear more than once (a preset's JPEG and WebP share their
pixels) are written once.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

_MODES = ("RGB", "RGBA", "L", "LA")


def write(path: Path, images: list[Image.Image]) -> None:
    unique: dict[int, int] = {}  # id(image) → index among the distinct ones
    distinct: list[Image.Image] = []
    for img in images:
        if id(img) not in unique:
            unique[id(img)] = len(distinct)
            distinct.append(img)
    header = {
        "images": [[img.mode, img.width, img.height] for img in distinct],
        "order": [unique[id(img)] for img in images],
    }
    with open(path, "wb") as out:
        out.write(json.dumps(header).encode() + b"\n")
        for img in distinct:
            out.write(img.tobytes())


def read(path: Path) -> list[Image.Image]:
    """The images `write` was given, in its order (shared ones shared again)."""
    with open(path, "rb") as src:
        header = json.loads(src.readline())
        distinct: list[Image.Image] = []
        for mode, width, height in header["images"]:
            if mode not in _MODES:
                raise ValueError(f"unexpected pixel mode {mode!r}")
            size = width * height * len(mode)
            data = src.read(size)
            if len(data) != size:
                raise ValueError("the pixel file is truncated")
            distinct.append(Image.frombytes(mode, (width, height), data))
    return [distinct[i] for i in header["order"]]
