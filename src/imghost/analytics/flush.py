"""Writing the counter's buffer to the database, in the background and at shutdown.

Only processes that serve delivery count, so only ``imghost serve`` runs a
flusher (from the app's lifespan); ``imghost worker`` has nothing to write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from imghost.analytics.services import write_counts
from imghost.context import AppContext

log = logging.getLogger(__name__)


async def flush(ctx: AppContext) -> bool:
    """Write everything counted so far in one transaction; False if that failed.

    On failure the drained counts go back into the counter, to be written by
    the next flush together with what was counted meanwhile.
    """
    batch = ctx.views.drain()
    if not batch:
        return True
    committed = False
    try:
        async with ctx.sessions() as session:
            await write_counts(session, batch)
            await session.commit()
            committed = True
    except BaseException as exc:
        if committed:  # only closing the session failed: the counts are stored
            raise
        ctx.views.merge(batch)
        if not isinstance(exc, Exception):
            raise  # cancelled: the counts are back in the counter for the final flush
        log.exception(
            "analytics: writing view counts failed; kept %d image-days for the next flush",
            len(batch.images),
        )
        return False
    return True


class Flusher:
    """Flushes every ``analytics_flush_interval`` seconds, and once more on ``stop``.

    Stopped by an event rather than by cancelling the task, so a write is
    never cut off halfway (the batch would be neither written nor given back).
    """

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-flusher")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        interval = self._ctx.settings.analytics_flush_interval
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            await flush(self._ctx)
