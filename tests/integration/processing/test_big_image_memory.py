"""A 100 MP image is processed within a 1.5 GiB address-space limit (so < 1.5 GB RSS)."""

from __future__ import annotations

import anyio
import pytest

from imghost.processing.pixels import analyze
from imghost.processing.pool import PixelPool
from imghost.processing.variants import PREGENERATED
from tests.helpers.big_images import BigImages

LIMIT = int(1.5 * 1024**3)


@pytest.mark.slow
def test_100_megapixel_png_within_budget(big_images: BigImages) -> None:
    # RGBA, the costliest common layout: 400 MB of pixels once decoded.
    path = big_images.gradient_png(10000, 10000, "RGBA")
    pool = PixelPool(1, LIMIT)

    async def scenario() -> None:
        result = await pool.run(300, analyze, str(path), "png", 100_000_000, list(PREGENERATED))
        assert result.failure is None and (result.width, result.height) == (10000, 10000)
        assert len(result.renders) == len(PREGENERATED)

    try:
        anyio.run(scenario)
    finally:
        pool.close()
