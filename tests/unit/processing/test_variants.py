from __future__ import annotations

import pytest

from imghost.errors import AppError
from imghost.processing.variants import derived_key, negotiate, parse_transform


def test_parse_and_canonical() -> None:
    t = parse_transform("c_cover,h_200,w_300,q_70")
    assert (t.width, t.height, t.fit, t.quality) == (300, 200, "cover", 70)
    assert t.canonical() == "w_300,h_200,c_cover,q_70"
    assert parse_transform("w_10").canonical() == "w_10,c_inside,q_82"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "w_",
        "w_0",
        "w_4097",
        "h_-1",
        "q_0,w_5",
        "q_101,w_5",
        "c_zoom,w_5",
        "x_1",
        "w_1,w_2",
        "q_50",
        "w_1.5",
        "w_²",
    ],
)
def test_rejects(bad: str) -> None:
    with pytest.raises(AppError) as exc:
        parse_transform(bad)
    assert exc.value.status == 400 and exc.value.code == "invalid_transform"


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        ("image/avif,image/webp,*/*", "avif"),
        ("image/webp", "webp"),
        ("image/avif;q=0, image/webp;q=0.5", "webp"),
        ("image/avif;q=0.0", "jpeg"),
        ("text/html,*/*;q=0.8", "jpeg"),
        ("", "jpeg"),
    ],
)
def test_negotiate(accept: str, fmt: str) -> None:
    assert negotiate(accept) == fmt


def test_derived_key() -> None:
    assert derived_key("u_1/img_2/original", "thumb.jpg").startswith("u_1/img_2/derived/v")
