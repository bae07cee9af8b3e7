"""The worker: runs queued jobs with leases and heartbeats, and the periodic kinds.

`imghost worker` runs one; `imghost serve` runs one in-process unless
IMGHOST_RUN_WORKER=false. Each worker runs ``concurrency`` jobs at a time.
What runs which kind comes from a :class:`~imghost.jobs.registry.Registry`
that the composition root fills; a handler gets the job's payload, must be
idempotent (it may run again after a crash) and re-reads what it needs.

An idle worker costs (almost) nothing: its idle slots wait for a wake-up
without a timeout, and a wake-up starts one claim, not one per slot. A commit
that queued a job wakes one idle slot: in this process directly
(``queue.wake_on_commit``), from any process on PostgreSQL (``jobs.listen``).
A slot that claims a job wakes one more before running it, so a batch of k
jobs fans out to k slots down that chain, and the chain ends at the first
claim that finds nothing. A wake-up that finds no slot idle (they are all
claiming or running) is kept for the next claim to start, which sees the job:
none is lost. The poll remains for what no commit announces (a delay or a
retry coming due, a lapsed lease) and for another process's jobs on SQLite:
once per ``poll_interval`` in which no slot claimed, one idle slot claims.
Jobs abandoned on their last attempt are buried at most every
`bury_interval` seconds, not at every claim.

Stopping (SIGTERM to ``imghost worker`` or ``imghost serve``): :meth:`Worker.stop`
ends the claiming at once and gives the jobs running a grace period to finish.
A job still running at its end is abandoned: its handler is cancelled (a pixel
call's process is killed with it) and, once the handler has ended, its lease
is released in the same moment, so another worker claims the job at once
instead of after the lease lapses, and never while this one still runs it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
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

# Seconds a stopping worker still waits, past its deadline, for its slots to
# record outcomes and release abandoned jobs before it cancels them too.
SETTLE_GRACE = 5.0
#: How long handing an abandoned job back may take. A job cancelled mid-write can
#: leave its SQLite connection holding the write lock until the engine is disposed,
#: and each try would wait out the busy timeout (a test's server took over 30 s to
#: stop). Past it the lease lapses and the job reruns then, as it always could.
RELEASE_GRACE = 2.0

LOST_LEASE = "the worker running it stopped (crash or kill) on its last attempt"

# Burying jobs abandoned on their last attempt is one more statement, and it
# ran at every claim. A job whose lease lapsed has waited the lease (a minute
# by default) already; waiting up to a quarter of that again, and never more
# than this, only delays its dead-job hook (the image marked failed) a little.
BURY_EVERY_MAX = 5.0


def bury_interval(lease: float) -> float:
    """Seconds between a worker's burials of abandoned jobs: a quarter of the
    lease, at most `BURY_EVERY_MAX`."""
    return min(lease / 4, BURY_EVERY_MAX)


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
        # The idle slots, each waiting on its future, first idle first: a
        # wake-up resolves one (see wake()).
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        # A wake-up that found no idle slot: the next claim to start answers it
        # (it sees the job that commit queued), so the slot that ends a claim
        # empty-handed claims again instead of going idle.
        self._pending = False
        # Loop time the last claim started (any slot's): the poll waits for a
        # whole poll_interval without one. And of the last burial.
        self._last_claim = -math.inf
        self._last_bury = -math.inf
        # Stopping: no more claims; jobs still running at the deadline (loop
        # time) are abandoned. `_deadline_moved` wakes the drain when abandon()
        # brings the deadline forward.
        self._stopping = asyncio.Event()
        self._deadline = math.inf
        self._deadline_moved = asyncio.Event()
        # The slots inside a handler now, and their jobs: what abandoning cancels.
        self._in_handler: dict[asyncio.Task[None], queue.ClaimedJob] = {}
        engine = sessions.kw.get("bind")
        self.listener: JobListener | None = None
        if isinstance(engine, AsyncEngine) and engine.dialect.name == "postgresql":
            self.listener = JobListener(engine, self.wake)

    def wake(self) -> None:
        """Work was just enqueued: one idle slot claims. If none is idle, the
        next claim to start (a slot ending a claim or a job) covers it."""
        if not self._wake_idle_slot():
            self._pending = True

    def _wake_idle_slot(self) -> bool:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a cancelled slot's is done
                waiter.set_result(None)
                return True
        return False

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self, grace: float) -> None:
        """Ask :meth:`run` to end: no job is claimed from now on, the running
        ones have ``grace`` seconds to finish, then the rest are abandoned (their
        leases released). Only the first call sets the deadline; see abandon()."""
        if self._stopping.is_set():
            return
        self._deadline = asyncio.get_running_loop().time() + max(grace, 0.0)
        log.info(
            "worker %s: stopping; %d job(s) running get %.0f s to finish",
            self.id,
            len(self._in_handler),
            grace,
        )
        self._stopping.set()
        while self._wake_idle_slot():  # idle slots end now
            pass

    def abandon(self) -> None:
        """Stop now: the running jobs are abandoned at once (a second SIGTERM)."""
        self.stop(0.0)
        self._deadline = min(self._deadline, asyncio.get_running_loop().time())
        self._deadline_moved.set()

    async def run(self) -> None:
        """Run jobs until :meth:`stop` (then return once every slot has ended) or
        until cancelled (then the running jobs are abandoned at once)."""
        log.info("worker %s: %d concurrent jobs", self.id, self.concurrency)
        # Whatever enqueues through these sessions (a request, a job, a command)
        # wakes the idle slots at its commit, not at their next poll.
        stop_waking = queue.wake_on_commit(self.sessions, self.wake)
        try:
            async with asyncio.TaskGroup() as group:
                background: list[asyncio.Task[None]] = [group.create_task(self._poll())]
                if self.listener is not None:
                    background.append(group.create_task(self.listener.run()))
                if self.periodic:
                    for periodic in self.registry.periodic.values():
                        background.append(group.create_task(self._periodic(periodic)))
                slots = {group.create_task(self._slot()) for _ in range(self.concurrency)}
                await self._stopping.wait()
                for task in background:
                    task.cancel()
                await self._drain(slots)
        finally:
            stop_waking()
        log.info("worker %s: stopped", self.id)

    async def _drain(self, slots: set[asyncio.Task[None]]) -> None:
        """Wait for the slots to end (each after its job) until the deadline,
        then cancel the ones still inside a handler: each releases its job."""
        loop = asyncio.get_running_loop()
        pending = set(slots)
        while pending and (left := self._deadline - loop.time()) > 0:
            self._deadline_moved.clear()
            moved = asyncio.ensure_future(self._deadline_moved.wait())
            done, _ = await asyncio.wait(
                {*pending, moved}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            moved.cancel()
            pending -= done
        for slot, job in list(self._in_handler.items()):
            log.warning("worker %s: abandoning job %s (%s) at shutdown", self.id, job.id, job.kind)
            slot.cancel()
        # The others are recording an outcome or releasing a job: bounded too,
        # in case the database does not answer (their leases then lapse).
        rest = {slot for slot in slots if not slot.done()}
        if rest:
            _, late = await asyncio.wait(rest, timeout=SETTLE_GRACE)
            for slot in late:
                slot.cancel()

    async def run_until_idle(self, max_seconds: float = 60.0) -> int:
        """Run due jobs one by one until none is due (tests and tools)."""
        done = 0
        async with asyncio.timeout(max_seconds):
            while (job := await self._claim()) is not None:
                await self._execute(job)
                done += 1
        return done

    async def _slot(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            _stop_if_cancelled()
            # Cleared before the claim, not after it: a job committed while the
            # claim ran (too late for its snapshot), whose wake-up found no idle
            # slot, sets it again, and this slot claims once more below.
            self._pending = False
            self._last_claim = loop.time()
            try:
                job = await self._claim()
            except Exception:
                log.exception("worker %s: could not claim a job; retrying", self.id)
                job = None
            if job is None:
                await self._idle()
                continue
            if self._stopping.is_set():
                # Claimed as the stop came: given back untouched, due at once.
                await self._release(job)
                return
            # More may be due (a batch): one more idle slot claims, and so on
            # down the chain until a claim finds nothing.
            self.wake()
            await self._execute(job)

    async def _idle(self) -> None:
        """Wait, without a timeout, until wake() (or the poll, or stop) picks
        this slot; at once if a wake-up came while it claimed."""
        # Without a timeout, a cancellation swallowed in the claim (see
        # _stop_if_cancelled) would never be noticed again.
        _stop_if_cancelled()
        if self._pending or self._stopping.is_set():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        finally:
            # Cancelled: off the line. (Woken: wake() took it off already.)
            with contextlib.suppress(ValueError):
                self._waiting.remove(waiter)

    async def _poll(self) -> None:
        """The one poll of the worker: once per ``poll_interval`` in which no
        slot claimed, one idle slot claims. (A timer per slot made an idle
        worker claim ``concurrency`` times an interval, a measurable share of
        an idle process's CPU.) With every slot busy there is nothing to do:
        each claims again when its job ends."""
        loop = asyncio.get_running_loop()
        while True:
            _stop_if_cancelled()
            left = self._last_claim + self.poll_interval - loop.time()
            if left <= 0:
                self._wake_idle_slot()
                # The woken slot's claim starts now; if none was idle, the next
                # poll is an interval on.
                self._last_claim = loop.time()
                left = self.poll_interval
            await asyncio.sleep(left)

    async def _claim(self) -> queue.ClaimedJob | None:
        now = asyncio.get_running_loop().time()
        bury = now - self._last_bury >= bury_interval(self.lease)
        if bury:
            self._last_bury = now
        async with self.sessions() as session:
            buried = await queue.bury_abandoned(session) if bury else []
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
        slot = asyncio.current_task()
        assert slot is not None
        error: str | None = None
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            self._in_handler[slot] = job
            try:
                async with asyncio.timeout(self.timeout):
                    await handler(job.payload)
            finally:
                del self._in_handler[slot]
        except asyncio.CancelledError:
            # Abandoned (stop's deadline passed, or the worker was cancelled):
            # the handler has unwound, so the job can go back now.
            await self._stop_beat(beat)
            await self._release(job)
            raise
        except queue.Deferred as exc:
            # Not a failure: what the job needs is down. Back to the queue
            # with its attempt given back (see queue.defer).
            log.warning("job %s (%s) deferred: %s", job.id, job.kind, exc)
            await self._stop_beat(beat)
            await self._put_back(job, str(exc))
            return
        except TimeoutError:
            error = f"job took longer than {self.timeout} s"
        except Exception as exc:
            if slot.cancelling():
                # A handler that turned its cancellation into another error was
                # abandoned all the same: not an attempt of its own failing.
                await self._stop_beat(beat)
                await self._release(job)
                raise asyncio.CancelledError from exc
            error = f"{type(exc).__name__}: {exc}"
            log.warning("job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, error)
        finally:
            await self._stop_beat(beat)
        await self._settle(job, error)

    @staticmethod
    async def _stop_beat(beat: asyncio.Task[None]) -> None:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat

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

    async def _release(self, job: queue.ClaimedJob) -> None:
        # Like _put_back, but due at once, not counted as a deferral, and bounded
        # by RELEASE_GRACE: it runs while the worker stops.
        try:
            async with asyncio.timeout(RELEASE_GRACE):
                for attempt in range(3):
                    try:
                        async with self.sessions() as session:
                            released = await queue.release(session, job, self.id)
                            await session.commit()
                        if released:
                            log.info(
                                "job %s (%s): lease released for another worker", job.id, job.kind
                            )
                        return
                    except Exception:
                        log.exception("could not release job %s", job.id)
                        await asyncio.sleep(0.2 * 2**attempt)
        except TimeoutError:
            log.warning(
                "job %s: not released within %g s; its lease will lapse", job.id, RELEASE_GRACE
            )

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
