"""Which stored blob an on-demand rendition is made from."""

from __future__ import annotations

import pytest

from imghost.imaging.render import Fit, OutFormat, RenderSpec
from imghost.processing.render_source import Original, PresetSource, preset_source

KEY = "usr_a/img_b/original"


def photo(width: int = 4032, height: int = 3024, fmt: str = "jpeg", frames: int = 1) -> Original:
    return Original("img_b", KEY, width, height, frames, fmt)


def spec(
    w: int | None, h: int | None = None, fit: Fit = "inside", fmt: OutFormat = "webp"
) -> RenderSpec:
    return RenderSpec(w, h, fit, fmt, 82)


def preset(name: str, width: int, height: int) -> PresetSource:
    return PresetSource(f"usr_a/img_b/derived/v1/{name}", width, height)


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (spec(200), preset("small.jpg", 320, 240)),
        (spec(320), preset("small.jpg", 320, 240)),
        (spec(321), preset("medium.jpg", 1024, 768)),
        (spec(None, 768), preset("medium.jpg", 1024, 768)),
        (spec(800, 800, "cover"), preset("large.jpg", 2048, 1536)),  # needs 1067x800
        (spec(500, 500, "cover"), preset("medium.jpg", 1024, 768)),  # needs 667x500
        (spec(600, 600, "contain"), preset("medium.jpg", 1024, 768)),
        (spec(2048), preset("large.jpg", 2048, 1536)),
        (spec(2049), None),  # only the original has the pixels
        (spec(4000), None),
        (spec(2048, 2048, "fill"), None),  # stretched: needs 2048 rows
        (spec(800, fmt="png"), None),  # a lossless format asked for
        (spec(800, fmt="avif"), preset("medium.jpg", 1024, 768)),
    ],
)
def test_the_smallest_preset_that_covers_the_output(
    wanted: RenderSpec, expected: PresetSource | None
) -> None:
    assert preset_source(photo(), wanted, alpha=False) == expected


def test_a_portrait_photo() -> None:
    assert preset_source(photo(3024, 4032), spec(1536), False) == preset("large.jpg", 1536, 2048)
    assert preset_source(photo(3024, 4032), spec(1537), False) is None


@pytest.mark.parametrize("alpha", [True, None])
def test_the_webp_preset_when_there_may_be_alpha(alpha: bool | None) -> None:
    got = preset_source(photo(fmt="heic"), spec(800), alpha)
    assert got == preset("medium.webp", 1024, 768)


@pytest.mark.parametrize("fmt", ["heic", "heif", "avif", "webp"])
def test_other_photo_formats_use_presets(fmt: str) -> None:
    assert preset_source(photo(fmt=fmt), spec(800), False) == preset("medium.jpg", 1024, 768)


@pytest.mark.parametrize(
    "original",
    [
        photo(fmt="png"),  # graphics: the lossy presets' artefacts would show
        photo(fmt="gif"),
        photo(fmt="webp", frames=12),  # animated: the presets hold one frame
        photo(fmt="avif", frames=3),
        photo(1000, 700),  # medium and large are the original's size; small is too small
        photo(0, 0),
    ],
    ids=["png", "gif", "animated-webp", "animated-avif", "small", "unknown-size"],
)
def test_the_original(original: Original) -> None:
    assert preset_source(original, spec(400), alpha=False) is None


def test_a_small_originals_smaller_presets_still_serve() -> None:
    """A 1000 px photo: small (320) is smaller; medium and large are its own size."""
    original = photo(1000, 700)
    assert preset_source(original, spec(300), False) == preset("small.jpg", 320, 224)
    assert preset_source(original, spec(321), False) is None


def test_a_heif_collection_is_not_an_animation() -> None:
    assert preset_source(photo(fmt="heic", frames=2), spec(800), False) is not None
