"""The worker: runs queued jobs with leases and heartbeats, and the periodic kinds.

`imghost worker` runs one; `imghost serve` runs one in-process unless
IMGHOST_RUN_WORKER=false. Each worker runs ``concurrency`` jobs at a time.
What runs which kind comes from a :class:`~imghost.jobs.registry.Registry`
that the composition root fills; a handler gets the job's payload, must be
idempotent (it may run again after a crash) and re-reads what it needs.

Idle slots wait for a wake-up or ``poll_interval``, whichever comes first. A
commit that queued a job wakes them: in this process directly
(``queue.wake_on_commit``), from any process on PostgreSQL (``jobs.listen``).
The poll remains for what no commit announces (a delay or a retry coming
due, a lapsed lease) and for another process's jobs on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imghost import request_ids
from imghost.jobs import queue
from imghost.jobs.listen import JobListener
from imghost.jobs.registry import Periodic, Registry

log = logging.getLogger(__name__)

LOST_LEASE = "the worker running it stopped (crash or kill) on its last attempt"


def _stop_if_cancelled() -> None:
    """Stop this loop if its task was asked to: a cancellation that a library
    swallowed (one lands in a database call now and then) must not keep a slot,
    a heartbeat or a periodic job running, and the process from exiting."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def default_concurrency(configured: int) -> int:
    return configured if configured > 0 else max(os.cpu_count() or 1, 1)


class Worker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: Registry,
        *,
        lease: int,
        timeout: float,
        concurrency: int,
        poll_interval: float = 1.0,
        periodic: bool = True,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.lease = lease
        self.timeout = timeout
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.periodic = periodic
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._wake = asyncio.Event()
        engine = sessions.kw.get("bind")
        self.listener: JobListener | None = None
        if isinstance(engine, AsyncEngine) and engine.dialect.name == "postgresql":
            self.listener = JobListener(engine, self.wake)

    def wake(self) -> None:
        """Tell idle slots that work was just enqueued."""
        self._wake.set()

    async def run(self) -> None:
        log.info("worker %s: %d concurrent jobs", self.id, self.concurrency)
        # Whatever enqueues through these sessions (a request, a job, a command)
        # wakes the idle slots at its commit, not at their next poll.
        stop_waking = queue.wake_on_commit(self.sessions, self.wake)
        try:
            async with asyncio.TaskGroup() as group:
                if self.listener is not None:
                    group.create_task(self.listener.run())
                if self.periodic:
                    for task in self.registry.periodic.values():
                        group.create_task(self._periodic(task))
                for _ in range(self.concurrency):
                    group.create_task(self._slot())
        finally:
            stop_waking()

    async def run_until_idle(self, max_seconds: float = 60.0) -> int:
        """Run due jobs one by one until none is due (tests and tools)."""
        done = 0
        async with asyncio.timeout(max_seconds):
            while (job := await self._claim()) is not None:
                await self._execute(job)
                done += 1
        return done

    async def _slot(self) -> None:
        while True:
            _stop_if_cancelled()
            # Cleared before the claim, not after it: a job committed while the
            # claim ran (too late for its snapshot) wakes the wait below at once.
            self._wake.clear()
            try:
                job = await self._claim()
            except Exception:
                log.exception("worker %s: could not claim a job; retrying", self.id)
                job = None
            if job is None:
                await self._idle()
                continue
            await self._execute(job)

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_interval):
                await self._wake.wait()

    async def _claim(self) -> queue.ClaimedJob | None:
        async with self.sessions() as session:
            buried = await queue.bury_abandoned(session)
            jobs = await queue.claim(session, self.id, self.lease)
            await session.commit()
        for job in buried:
            await self._on_dead(job, LOST_LEASE)
        return jobs[0] if jobs else None

    async def _on_dead(self, job: queue.ClaimedJob, error: str) -> None:
        log.error("job %s (%s) is dead: %s", job.id, job.kind, error)
        hook = self.registry.dead_handlers.get(job.kind)
        if hook is None:
            return
        try:
            await hook(job.payload, error)
        except Exception:
            log.exception("the dead-job hook of %s failed", job.id)

    async def _execute(self, job: queue.ClaimedJob) -> None:
        # The queuing request's id on every line the job logs (this slot's
        # context only: each slot is a task of its own).
        bound = request_ids.bind(job.request_id)
        try:
            await self._run(job)
        finally:
            request_ids.reset(bound)

    async def _run(self, job: queue.ClaimedJob) -> None:
        handler = self.registry.handlers.get(job.kind)
        beat = asyncio.create_task(self._heartbeat(job))
        error: str | None = None
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            async with asyncio.timeout(self.timeout):
                await handler(job.payload)
        except queue.Deferred as exc:
            # Not a failure: what the job needs is down. Back to the queue
            # with its attempt given back (see queue.defer).
            log.warning("job %s (%s) deferred: %s", job.id, job.kind, exc)
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            await self._put_back(job, str(exc))
            return
        except TimeoutError:
            error = f"job took longer than {self.timeout} s"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, error)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        await self._settle(job, error)

    async def _settle(self, job: queue.ClaimedJob, error: str | None) -> None:
        # Record the outcome; if the database is briefly unavailable, retry a
        # few times. If it never answers, the lease lapses and the job reruns.
        status: str | None = None
        for attempt in range(5):
            try:
                async with self.sessions() as session:
                    if error is None:
                        await queue.complete(session, job.id, self.id)
                    else:
                        status = await queue.fail(session, job, self.id, error)
                    await session.commit()
                if error is not None and status == "dead":
                    await self._on_dead(job, error)
                return
            except Exception:
                log.exception("could not record the outcome of job %s", job.id)
                await asyncio.sleep(0.5 * 2**attempt)

    async def _put_back(self, job: queue.ClaimedJob, reason: str) -> None:
        # Like _settle: a database hiccup is retried; if it never answers, the
        # lease lapses and the job reruns (as an attempt: a crash, not a deferral).
        for attempt in range(5):
            try:
                async with self.sessions() as session:
                    await queue.defer(session, job, self.id, reason)
                    await session.commit()
                return
            except Exception:
                log.exception("could not put job %s back in the queue", job.id)
                await asyncio.sleep(0.5 * 2**attempt)

    async def _heartbeat(self, job: queue.ClaimedJob) -> None:
        lease = self.lease
        while True:
            _stop_if_cancelled()
            await asyncio.sleep(max(lease / 3, 0.2))
            try:
                async with self.sessions() as session:
                    ours = await queue.heartbeat(session, job.id, self.id, lease)
                    await session.commit()
                if not ours:
                    log.warning("job %s: lease lost to another worker", job.id)
                    return
            except Exception:
                log.exception("heartbeat for job %s failed", job.id)

    async def _periodic(self, task: Periodic) -> None:
        # The first run waits a random part of a minute (or of the interval, if
        # shorter): processes started together by a deploy do not all list the
        # blob store at the same moment, and a run never races start-up work.
        await asyncio.sleep(random.uniform(0.5, 1.0) * min(60, task.every))
        while True:
            _stop_if_cancelled()
            try:
                await task.run()
            except Exception:
                log.exception("periodic job %s failed; will run again next interval", task.kind)
            await asyncio.sleep(task.every)
