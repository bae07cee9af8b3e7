from __future__ import annotations

import pytest

from imghost.delivery.api import download_name


@pytest.mark.parametrize(
    ("filename", "fmt", "expected"),
    [
        ("evil.html", "jpeg", "evil.jpg"),
        ("evil.svg", "png", "evil.png"),
        ("a.b.html", "webp", "a.b.webp"),
        ("evil.html.", "gif", "evil.html.gif"),
        ("photo.JPG", "jpeg", "photo.JPG"),
        ("photo.jpeg", "jpeg", "photo.jpeg"),
        ("x.heic", "heif", "x.heic"),
        ("x.heic", "jpeg", "x.jpg"),
        ("noext", "avif", "noext.avif"),
        (".jpg", "jpeg", "img_1.jpg"),
        (None, "png", "img_1.png"),
        ("odd", "x/y", "odd.bin"),
    ],
)
def test_the_extension_follows_the_stored_format(
    filename: str | None, fmt: str, expected: str
) -> None:
    assert download_name(filename, "img_1", fmt) == expected
