"""Byte counts and pixel counts written for people, the one way every message does it.

Sizes use decimal units (kB, MB, GB: powers of 1000), as the size settings are
documented ("50000000 (50 MB)"). A count that is a whole number of binary units
(a limit configured as ``8MiB``) is written in those, so that a message repeats
the limit as it was set instead of a rounded decimal figure. Below one unit the
exact count is printed: a limit of 5000 bytes is "5 kB", never "0 MB".
"""

from __future__ import annotations

_DECIMAL = ((1000**4, "TB"), (1000**3, "GB"), (1000**2, "MB"), (1000, "kB"))
_BINARY = ((1024**4, "TiB"), (1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB"))


def _largest(n: int, units: tuple[tuple[int, str], ...]) -> tuple[int, str] | None:
    """The largest unit ``n`` reaches (``units`` from the largest down)."""
    return next(((factor, unit) for factor, unit in units if n >= factor), None)


def _one_decimal(n: int, units: tuple[tuple[int, str], ...], below: str) -> str:
    """``n`` in the largest unit it reaches, with at most one decimal ("1.5 kB", "2 MB")."""
    found = _largest(n, units)
    if found is None:
        return below
    factor, unit = found
    value = round(n / factor, 1)
    bigger = [(f, u) for f, u in units if f > factor]
    if value >= 1000 and bigger:
        # 999_999 rounds to 1000 kB: say "1 MB" instead.
        factor, unit = bigger[-1]
        value = round(n / factor, 1)
    return f"{value:,.1f}".removesuffix(".0") + f" {unit}"


def human_bytes(n: int) -> str:
    """5000 -> ``5 kB``; 1234567 -> ``1.2 MB``; 8388608 -> ``8 MiB``; 100 -> ``100 bytes``."""
    if n < 0:
        return f"-{human_bytes(-n)}"
    # A whole number of the largest unit reached, decimal first, then binary.
    for units in (_DECIMAL, _BINARY):
        found = _largest(n, units)
        if found is not None and n % found[0] == 0:
            return f"{n // found[0]} {found[1]}"
    return _one_decimal(n, _DECIMAL, "1 byte" if n == 1 else f"{n} bytes")


def human_pixels(n: int) -> str:
    """100_000_000 -> ``100 MP``; 2_350_000 -> ``2.4 MP``; 5000 -> ``5,000 pixels``.

    Megapixels from one million on, as cameras and the settings' help write
    them; fewer are counted exactly, so a small limit never reads "0 MP".
    """
    if n >= 1000**2 and n % 1000**2 == 0:
        return f"{n // 1000**2:,} MP"
    return _one_decimal(n, ((1000**2, "MP"),), "1 pixel" if n == 1 else f"{n:,} pixels")
