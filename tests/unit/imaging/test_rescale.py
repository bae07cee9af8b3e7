"""Rendering from a smaller whole-frame copy (a preset) as if from the original."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from imghost.imaging.render import Fit, OutFormat, Rendered, RenderSpec, render_file
from imghost.imaging.rescale import covers, render_from_copy, whole_frame_size
from tests.unit.imaging.helpers import mean_abs_diff, pattern

BIG = 10**8
FULL = (1001, 667)  # odd sides: the copy's are rounded


def _spec(w: int | None, h: int | None, fit: Fit = "inside", fmt: OutFormat = "png") -> RenderSpec:
    return RenderSpec(w, h, fit, fmt, 90)


def _open(rendered: Rendered) -> Image.Image:
    img = Image.open(io.BytesIO(rendered.data))
    img.load()
    return img


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An original and a copy of it as the processing job stores a preset
    (whole frame, long edge 500, lossy)."""
    root = tmp_path_factory.mktemp("rescale")
    original = root / "original.png"
    pattern(FULL).save(original)
    copy = root / "copy.jpg"
    copy.write_bytes(render_file(original, [_spec(500, 500, fmt="jpeg")], BIG)[0].data)
    return original, copy


def test_a_whole_frame_presets_size() -> None:
    assert whole_frame_size(*FULL, _spec(500, 500)) == (500, 333)
    assert whole_frame_size(100, 50, _spec(2048, 2048)) == (100, 50)  # never upscaled
    assert whole_frame_size(*FULL, _spec(256, 256, "cover")) is None  # a crop
    assert whole_frame_size(*FULL, _spec(500, 500, "contain")) is None  # padded


@pytest.mark.parametrize(
    "spec",
    [
        _spec(200, None),
        _spec(None, 150),
        _spec(300, 300, "cover"),
        _spec(480, 120, "cover"),
        _spec(250, 100, "fill"),
        _spec(200, 200, "contain"),
        _spec(500, None, fmt="jpeg"),  # the copy's own size: no resampling
    ],
    ids=lambda s: f"{s.width}x{s.height}-{s.fit}-{s.format}",
)
def test_same_size_and_crop_as_from_the_original(
    files: tuple[Path, Path], spec: RenderSpec
) -> None:
    original, copy = files
    assert covers(FULL, (500, 333), spec)
    expected = render_file(original, [spec], BIG)[0]
    got = render_from_copy(copy, FULL, spec, BIG)
    assert got is not None
    assert (got.width, got.height, got.mime) == (expected.width, expected.height, expected.mime)
    # Only the copy's lossy encoding differs.
    assert mean_abs_diff(_open(got), _open(expected)) < 3


@pytest.mark.parametrize(
    "spec",
    [_spec(501, None), _spec(None, 400), _spec(700, 700, "cover"), _spec(500, 500, "fill")],
    ids=lambda s: f"{s.width}x{s.height}-{s.fit}",
)
def test_a_copy_smaller_than_the_output_needs_is_not_used(
    files: tuple[Path, Path], spec: RenderSpec
) -> None:
    assert not covers(FULL, (500, 333), spec)
    assert render_from_copy(files[1], FULL, spec, BIG) is None


def test_a_copy_of_another_shape_is_not_used(files: tuple[Path, Path]) -> None:
    """A transposed copy (or another picture) is refused on its size alone."""
    assert render_from_copy(files[1], (667, 1001), _spec(100, None), BIG) is None


def test_an_exif_rotated_original_and_its_copy_give_the_same_upright_output(tmp_path: Path) -> None:
    upright = pattern((300, 500))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    original = tmp_path / "rotated.jpg"
    stored.save(original, quality=95, exif=exif)
    copy = tmp_path / "copy.webp"
    copy.write_bytes(render_file(original, [_spec(240, 240, fmt="webp")], BIG)[0].data)
    spec = _spec(120, None, fmt="png")
    got = render_from_copy(copy, (300, 500), spec, BIG)
    assert got is not None and (got.width, got.height) == (120, 200)
    assert mean_abs_diff(_open(got), upright.resize((120, 200))) < 4
