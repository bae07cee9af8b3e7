"""Wake a worker when another process queues a job: PostgreSQL's LISTEN/NOTIFY.

The commit that queues a job sends ``NOTIFY`` on `CHANNEL` (``queue``'s
commit hook), so every worker listening on that database hears of it when
the job exists, whichever process or host queued it. A worker holds one
connection of its own for it, outside the engine's pool (a connection lent
for the process's lifetime would shrink the pool the requests share).

Listening only shortens the wait: the worker still polls every
``poll_interval``, which also covers delayed jobs, retries and a database
without LISTEN (SQLite, where the commit's in-process signal wakes only the
same process). A lost connection (a restart, a failover, a terminated
backend, a peer that stopped answering) is logged and opened again with
backoff; meanwhile the poll goes on, and a worker never stops for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

#: The channel the commits that queue jobs notify (``queue.enqueue``).
CHANNEL = "imghost_jobs"


class JobListener:
    """LISTEN on `CHANNEL` for as long as `run` runs, calling ``wake`` on each
    notification and after each (re)connection (jobs may have been queued
    while nobody listened)."""

    def __init__(
        self,
        engine: AsyncEngine,
        wake: Callable[[], None],
        *,
        retry: float = 0.5,
        retry_cap: float = 30.0,
        check_every: float = 30.0,
    ) -> None:
        self.url = engine.url
        self.wake = wake
        self.retry = retry  # seconds before the first reconnection, doubling
        self.retry_cap = retry_cap
        # A peer that stopped answering without closing the connection (a
        # network cut) is found by a query this often, answered within the
        # same time.
        self.check_every = check_every
        #: Set while a LISTEN connection is up (tests and diagnostics).
        self.listening = asyncio.Event()
        #: The server process of the current connection (tests end it to cut it).
        self.backend_pid: int | None = None

    async def run(self) -> None:
        engine = create_async_engine(self.url, poolclass=NullPool)
        delay = self.retry
        try:
            while True:
                try:
                    await self._listen(engine)
                    delay = self.retry  # it was up: a new outage starts over
                except Exception as exc:
                    log.warning(
                        "job notifications: no LISTEN connection (%s: %s); polling until "
                        "it is back",
                        type(exc).__name__,
                        exc,
                    )
                await asyncio.sleep(delay * random.uniform(0.75, 1.25))
                delay = min(delay * 2, self.retry_cap)
        finally:
            self.listening.clear()
            await asyncio.shield(engine.dispose())

    async def _listen(self, engine: AsyncEngine) -> None:
        """One connection's life: returns (or raises) when it is lost."""
        conn = await engine.connect()
        try:
            raw = await conn.get_raw_connection()
            pg: Any = raw.driver_connection  # asyncpg's Connection
            lost = asyncio.Event()
            pg.add_termination_listener(lambda _conn: lost.set())
            await pg.add_listener(CHANNEL, self._notified)
            self.backend_pid = pg.get_server_pid()
            self.listening.set()
            log.info("job notifications: listening on %s", CHANNEL)
            self.wake()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.check_every):
                        await lost.wait()
                if not lost.is_set():
                    async with asyncio.timeout(self.check_every):
                        await pg.execute("SELECT 1")
            log.warning("job notifications: the LISTEN connection was closed; reconnecting")
        finally:
            self.listening.clear()
            self.backend_pid = None
            # Never pooled (NullPool): closing it ends the LISTEN with it.
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.invalidate())

    def _notified(self, *_: object) -> None:
        self.wake()
