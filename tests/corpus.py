"""Where the shared real-world corpus lives, and what each file must do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CI = os.environ.get("CI", "").lower() == "true"


def corpus_root() -> Path:
    env = os.environ.get("IMGHOST_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "corpus"


def require_corpus() -> Path:
    root = corpus_root()
    if not root.is_dir():
        if CI:
            pytest.fail(f"corpus not found at {root} (set IMGHOST_CORPUS)")
        pytest.skip(f"corpus not found at {root}")
    return root


# Expected outcome at upload for files under hostile/ (see ../shared/corpus/README.md).
HOSTILE_REJECT = {
    "broken.png": (422, "invalid_image"),
    "broken_data_stream.png": (422, "invalid_image"),
    "corrupted.heic": (422, "invalid_image"),
    "empty.heic": (422, "invalid_image"),
    "decompression_bomb.gif": (413, "image_too_large"),
    "unsupported_hopper.bmp": (415, "unsupported_media_type"),
    "unsupported_hopper.tif": (415, "unsupported_media_type"),
}
HOSTILE_ACCEPT = {
    "broken_exif_dpi.jpg",
    "exif-ifd-offset.jpg",
    "exif_gps_typeerror.jpg",
    "invalid_image00971.jpg",
    "invalid_image01088.jpg",
    "invalid_image01137.jpg",
}
HOSTILE_EITHER = {"corrupted.jpg", "truncated.heic", "decompression_bomb_extents.gif"}
ACCEPT_FOLDERS = ("exif", "heic", "formats", "orientation")
