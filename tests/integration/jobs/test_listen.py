"""Workers hear of jobs queued by other processes (PostgreSQL LISTEN/NOTIFY).

Another engine stands for another process: its commits do not reach this
process's in-process wake-up, so only the NOTIFY can wake the worker before
its 30 s poll. A LISTEN connection that is cut is opened again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from imghost.context import AppContext
from imghost.db import create_engine, session_factory
from imghost.jobs import queue
from imghost.jobs.listen import CHANNEL
from imghost.jobs.registry import Registry
from imghost.jobs.worker import Worker
from imghost.settings import Settings
from tests.conftest import backend_fixture
from tests.helpers.context import with_ctx

backend = backend_fixture(["postgres-s3"])

WAIT = 10.0  # far below the worker's 30 s poll


class Watched(Worker):
    """A worker that reports each claim that found nothing, with the backend
    pid of the LISTEN connection that was up when the claim began."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.empty_claims: asyncio.Queue[int | None] = asyncio.Queue()

    async def _claim(self) -> queue.ClaimedJob | None:
        assert self.listener is not None
        pid = self.listener.backend_pid if self.listener.listening.is_set() else None
        job = await super()._claim()
        if job is None:
            self.empty_claims.put_nowait(pid)
        return job

    async def idle_while_listening(self, besides: int | None = None) -> int:
        """Until a claim that began while LISTEN was up (on a connection other
        than ``besides``) found nothing: the slot then waits for a wake-up."""
        async with asyncio.timeout(WAIT):
            while (pid := await self.empty_claims.get()) is None or pid == besides:
                pass
        return pid


def test_a_job_queued_elsewhere_wakes_the_worker_and_a_cut_connection_comes_back(
    settings: Settings,
) -> None:
    async def scenario(ctx: AppContext) -> None:
        ran: asyncio.Queue[int] = asyncio.Queue()

        async def handler(payload: dict[str, Any]) -> None:
            ran.put_nowait(payload["n"])

        registry = Registry()
        registry.add("t", handler)
        worker = Watched(
            ctx.sessions,
            registry,
            lease=30,
            timeout=30,
            concurrency=1,
            poll_interval=30,
            periodic=False,
        )
        assert worker.listener is not None
        worker.listener.retry = 0.05
        elsewhere = create_engine(settings.database_url)
        sessions = session_factory(elsewhere)

        async def queue_one(n: int) -> None:
            async with sessions() as s:
                queue.enqueue(s, "t", {"n": n})
                await s.commit()

        running = asyncio.create_task(worker.run())
        try:
            first = await worker.idle_while_listening()
            await queue_one(1)
            async with asyncio.timeout(WAIT):
                assert await ran.get() == 1

            # The server ends the listening connection: the worker goes on
            # (polling meanwhile), listens again and is woken again.
            async with sessions() as s:
                await s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            await worker.idle_while_listening(besides=first)
            assert not running.done()
            await queue_one(2)
            async with asyncio.timeout(WAIT):
                assert await ran.get() == 2
        finally:
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            await elsewhere.dispose()

    with_ctx(settings, scenario)


def test_only_a_committed_job_is_notified(settings: Settings) -> None:
    """The NOTIFY rides in the transaction that queued the job: a rollback
    (or a savepoint rolled back after it) takes it away; a commit sends one."""

    async def scenario(ctx: AppContext) -> None:
        heard: asyncio.Queue[str] = asyncio.Queue()
        listening = await ctx.engine.connect()
        raw = await listening.get_raw_connection()
        pg: Any = raw.driver_connection  # asyncpg's
        await pg.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[-1]))
        try:
            async with ctx.sessions() as s:
                queue.enqueue(s, "t", {})
                await s.flush()
                await s.rollback()
                await s.execute(text(f"NOTIFY {CHANNEL}, 'marker'"))
                await s.commit()
            async with ctx.sessions() as s:
                async with s.begin_nested():
                    queue.enqueue(s, "t", {})  # NOTIFY at the savepoint's release...
                await s.commit()  # ...heard at the commit
            async with asyncio.timeout(WAIT):
                assert await heard.get() == "marker"  # nothing from the rolled-back job
                assert await heard.get() == ""
        finally:
            await listening.invalidate()  # not back to the pool with its LISTEN

    with_ctx(settings, scenario)
