"""Work done on the app's resources from a test, beside the live server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from imghost.context import AppContext
from imghost.settings import Settings

T = TypeVar("T")


def with_ctx(settings: Settings, work: Callable[[AppContext], Awaitable[T]]) -> T:
    """Run ``work`` with an ``AppContext`` of its own (database, store, pool), then close it."""

    async def main() -> T:
        ctx = AppContext.build(settings)
        try:
            return await work(ctx)
        finally:
            await ctx.close()

    return anyio.run(main)
