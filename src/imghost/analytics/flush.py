"""Writing the counter's buffer to the database, in the background and at shutdown.

Only processes that serve delivery count, so only ``imghost serve`` runs a
flusher (from the app's lifespan); ``imghost worker`` has nothing to write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.analytics.counter import ViewCounter
from imghost.analytics.services import write_counts
from imghost.settings import QuotaSettings

log = logging.getLogger(__name__)


async def flush(
    views: ViewCounter,
    sessions: async_sessionmaker[AsyncSession],
    budgets: QuotaSettings | None = None,
) -> bool:
    """Write everything counted so far in one transaction; False if that failed.
    ``budgets``: the plans' bandwidth budgets, whose thresholds the write announces.

    On failure the drained counts go back into the counter, to be written by
    the next flush together with what was counted meanwhile.
    """
    batch = views.drain()
    if not batch:
        return True
    committed = False
    try:
        async with sessions() as session:
            await write_counts(session, batch, budgets)
            await session.commit()
            committed = True
    except BaseException as exc:
        if committed:  # only closing the session failed: the counts are stored
            raise
        views.merge(batch)
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

    def __init__(
        self,
        views: ViewCounter,
        sessions: async_sessionmaker[AsyncSession],
        interval: float,
        budgets: QuotaSettings | None = None,
    ) -> None:
        self._views = views
        self._sessions = sessions
        self._interval = interval
        self._budgets = budgets
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-flusher")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._stopping.wait()
            await flush(self._views, self._sessions, self._budgets)
