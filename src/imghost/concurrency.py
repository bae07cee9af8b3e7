"""Run CPU-heavy calls (argon2, image decoding) off the event loop, bounded.

Each kind of work gets at most one slot per core in a process, so a burst of
logins or uploads queues instead of starving the loop or exhausting memory
(one argon2 hash takes 64 MiB; one 100 MP decode takes ~300 MB).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

import anyio

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

SLOTS = max(os.cpu_count() or 1, 1)

# Limiters belong to an event loop; tests run several loops in one process.
_limiters: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, anyio.CapacityLimiter]
] = weakref.WeakKeyDictionary()


def _limiter(kind: str) -> anyio.CapacityLimiter:
    per_loop = _limiters.setdefault(asyncio.get_running_loop(), {})
    limiter = per_loop.get(kind)
    if limiter is None:
        limiter = per_loop[kind] = anyio.CapacityLimiter(SLOTS)
    return limiter


async def run_cpu_bound(kind: str, func: Callable[[*Ts], T], *args: *Ts) -> T:
    """Run ``func(*args)`` in a worker thread, at most SLOTS of one ``kind`` at a time."""
    return await anyio.to_thread.run_sync(func, *args, limiter=_limiter(kind))
