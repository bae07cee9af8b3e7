"""Byte and pixel counts written for people: one helper for every message."""

from __future__ import annotations

import pytest

from imghost.units import human_bytes, human_pixels


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (999, "999 bytes"),
        # The case: IMGHOST_MAX_FILE_SIZE=5000 printed "the 0 MB limit".
        (5000, "5 kB"),
        (1500, "1.5 kB"),
        (4_900_000, "4.9 MB"),
        (1_500_000, "1.5 MB"),
        (50_000_000, "50 MB"),
        (1_234_567, "1.2 MB"),
        # Rounded before the unit is chosen: never "1000 kB".
        (999_999, "1 MB"),
        (10**9, "1 GB"),
        (2 * 1000**4, "2 TB"),
        # A limit set in binary units is repeated in them, not as a rounded decimal.
        (64 * 1024, "64 KiB"),
        (8 * 1024**2, "8 MiB"),
        (1024**3, "1 GiB"),
        (-1500, "-1.5 kB"),
    ],
)
def test_human_bytes(count: int, text: str) -> None:
    assert human_bytes(count) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (1, "1 pixel"),
        (5000, "5,000 pixels"),
        (999_000, "999,000 pixels"),
        (999_999, "999,999 pixels"),
        (1_000_000, "1 MP"),
        (2_350_000, "2.4 MP"),
        (100_000_000, "100 MP"),
        (1_500_000_000, "1,500 MP"),
        (1_234_567_890, "1,234.6 MP"),
    ],
)
def test_human_pixels(count: int, text: str) -> None:
    assert human_pixels(count) == text
