"""Pixels kept in a file between the processing job's two pixel calls."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imghost.imaging import rawpixels
from tests.unit.imaging.helpers import pattern


def test_pixels_come_back_as_written_shared_ones_once(tmp_path: Path) -> None:
    rgb = pattern((64, 48))
    grey = rgb.convert("L")
    alpha = rgb.convert("RGBA")
    alpha.putalpha(grey)
    path = tmp_path / "pixels"
    rawpixels.write(path, [rgb, rgb, grey, alpha.convert("LA"), alpha])
    assert path.stat().st_size < 64 * 48 * (3 + 1 + 2 + 4) + 200  # rgb written once
    back = rawpixels.read(path)
    assert [img.mode for img in back] == ["RGB", "RGB", "L", "LA", "RGBA"]
    assert back[0] is back[1]
    for got, want in zip(back, [rgb, rgb, grey, alpha.convert("LA"), alpha], strict=True):
        assert got.size == want.size and got.tobytes() == want.tobytes()


def test_a_truncated_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pixels"
    rawpixels.write(path, [Image.new("RGB", (10, 10))])
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        rawpixels.read(path)
