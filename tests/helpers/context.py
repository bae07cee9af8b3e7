"""Work done on the app's resources from a test, beside the live server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from imghost.context import AppContext
from imghost.settings import Settings

if TYPE_CHECKING:
    from tests.conftest import LiveServer

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


def on_server(live: LiveServer, work: Callable[[AppContext], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` on the live server's own event loop with its own ``AppContext``
    (its caches, counters and sessions), and wait for the result."""
    loop = live.server._loop
    assert loop is not None, "the live server is not running"
    ctx: AppContext = live.app.state.ctx
    return asyncio.run_coroutine_threadsafe(work(ctx), loop).result(60)
