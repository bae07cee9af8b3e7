from __future__ import annotations

from PIL import Image

from imghost.imaging.palette import dominant_color


def test_most_common_family_not_the_average() -> None:
    img = Image.new("RGB", (100, 100), (20, 160, 40))  # green leaves
    img.paste((230, 10, 10), (0, 0, 45, 100))  # a big red flower, still the minority
    assert dominant_color(img) == "#14a028"


def test_transparent_pixels_do_not_count() -> None:
    img = Image.new("RGBA", (50, 50), (255, 255, 255, 0))
    img.paste((0, 0, 200, 255), (0, 0, 10, 10))
    assert dominant_color(img) == "#0000c8"
    assert dominant_color(Image.new("RGBA", (5, 5), (9, 9, 9, 0))) is None


def test_greyscale_and_large_inputs() -> None:
    assert dominant_color(Image.new("L", (2000, 1000), 128)) == "#808080"
    assert dominant_color(Image.new("LA", (3, 3), (255, 255))) == "#ffffff"
