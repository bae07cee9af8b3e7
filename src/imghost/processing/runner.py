"""Where pixel work runs: a thread for small images, the process pool for big ones.

Spawning into the pool costs a pickle round trip and, the first time, a
process start; for a thumbnail of a small image that dwarfs the work itself.
Pillow releases the GIL while it decodes, resizes and encodes, so small
images run in a bounded thread pool; anything large goes to a process so it
cannot stall the server or the other jobs, and is bound by the memory limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

from imghost.concurrency import run_cpu_bound
from imghost.processing.pool import PixelPool

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

POOL_MIN_PIXELS = 4_000_000
POOL_MIN_BYTES = 8_000_000  # the scan reads the whole file into memory


async def run_pixels(
    pool: PixelPool, limit: float, pixels: int, size: int, fn: Callable[[*Ts], T], *args: *Ts
) -> T:
    """``fn(*args)`` for an image of ``pixels`` pixels and ``size`` bytes, within ``limit`` s."""
    if pixels < POOL_MIN_PIXELS and size < POOL_MIN_BYTES:
        async with asyncio.timeout(limit):
            return await run_cpu_bound("pixels", fn, *args)
    return await pool.run(limit, fn, *args)
