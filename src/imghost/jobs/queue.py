"""The durable job queue: enqueue in the caller's transaction, claim with a lease.

Claiming is one statement: WITH due AS (SELECT ... LIMIT n) UPDATE ... FROM
due RETURNING. On PostgreSQL the CTE takes ``FOR UPDATE SKIP LOCKED`` (and is
materialized), so concurrent workers pass over each other's rows instead of
waiting; on SQLite the statement runs under the database's single write lock,
which makes the claim atomic the same way. Completion and failure only apply while the caller
still holds the lease (``locked_by``), so a worker whose lease lapsed and
was taken over cannot overwrite the newer attempt's outcome.

The commit that queues a job wakes the idle workers (one slot of each: see
``jobs.worker``): those of the same process through `wake_on_commit`, and on
PostgreSQL those of every process through a ``NOTIFY`` sent in that very
transaction (delivered when it commits, dropped if it rolls back;
``jobs.listen`` is the other end).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, event, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from imghost import request_ids
from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.ids import new_id
from imghost.jobs.listen import CHANNEL
from imghost.jobs.models import Job

BACKOFF_BASE = 2.0  # seconds before the first retry
BACKOFF_CAP = 600.0  # never wait more than 10 minutes between attempts
MAX_ERROR = 2000
# Set on a session by enqueue: its commit wakes the idle workers of the process.
ENQUEUED = "imghost.jobs.enqueued"
# Set with it, and taken by the NOTIFY sent before the commit (PostgreSQL).
_NOTIFY = "imghost.jobs.notify"


DEFER_CAP = 120.0  # a service that is back is noticed within two minutes

# Job priorities, claimed lowest first (then oldest first). Someone waits for
# an interactive job (an upload's processing, a notification); bulk jobs are an
# operator's sweeps over every image (rescans, integrity checks, key
# rotation), which must not delay the next upload's thumbnail. A steady flow
# of interactive work delays bulk work: sweeps run in the quiet hours.
INTERACTIVE = 0
BULK = 10


class Deferred(Exception):
    """Raised by a handler when something it needs is down (clamd, say): the
    job goes back to the queue with backoff, but the attempt is given back, so
    an outage never makes a job dead. The message is kept as ``last_error``."""


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    # The request that queued it (or queued the job that queued it): the
    # worker binds it while the job runs, so the job's log lines carry it.
    request_id: str | None = None


# What a claim reads back of each job, in ClaimedJob's order.
_CLAIMED = (Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts, Job.request_id)


def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    image_id: str | None = None,
    max_attempts: int = 5,
    delay: float = 0.0,
    priority: int = INTERACTIVE,
) -> Job:
    """Add a job to the caller's transaction: it exists iff that transaction commits."""
    now = utcnow()
    job = Job(
        id=new_id("job"),
        kind=kind,
        payload=payload,
        image_id=image_id,
        status="queued",
        priority=priority,
        attempts=0,
        max_attempts=max_attempts,
        run_at=now + dt.timedelta(seconds=delay),
        created_at=now,
        updated_at=now,
        request_id=request_ids.current(),
    )
    session.add(job)
    session.info[ENQUEUED] = True
    session.info[_NOTIFY] = True
    return job


def _notify_before_commit(session: Session) -> None:
    """On PostgreSQL, NOTIFY the workers of every process in the transaction
    that queued a job: they hear of it when it commits, and never of a job
    whose transaction rolled back. (Also at a savepoint's release: the
    notification still waits for the outer commit.) One per transaction is
    enough: PostgreSQL folds repeated ones anyway."""
    if session.info.pop(_NOTIFY, False) and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


def _forget_notify(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(_NOTIFY, None)


# Every session's, whatever its factory: the API's, the worker's, a command's.
# Only enqueue (this module) sets the flag, so whoever queues has this registered.
event.listen(Session, "before_commit", _notify_before_commit)
event.listen(Session, "after_soft_rollback", _forget_notify)


def wake_on_commit(
    sessions: async_sessionmaker[AsyncSession], wake: Callable[[], None]
) -> Callable[[], None]:
    """Call ``wake`` after each commit of a session of ``sessions`` that enqueued
    a job (from then on the job exists), whichever request, job or command it
    was. Returns the function that stops it."""
    target = sessions.kw.get("sync_session_class", Session)

    def committed(session: Session) -> None:
        if session.info.pop(ENQUEUED, False):
            wake()

    def rolled_back(session: Session, previous: SessionTransaction) -> None:
        # A savepoint rolled back (begin_nested) keeps what was enqueued before it.
        if previous.parent is None:
            session.info.pop(ENQUEUED, None)

    event.listen(target, "after_commit", committed)
    # Soft: rollbacks of transactions that never reached the database too.
    event.listen(target, "after_soft_rollback", rolled_back)

    def stop() -> None:
        event.remove(target, "after_commit", committed)
        event.remove(target, "after_soft_rollback", rolled_back)

    return stop


async def bury_abandoned(session: AsyncSession, now: dt.datetime | None = None) -> list[ClaimedJob]:
    """Jobs whose worker died on their last allowed attempt become dead, not retried.

    Returned so the caller can run the kinds' dead-job hooks (e.g. mark the
    image failed).
    """
    now = now or utcnow()
    result = await session.execute(
        update(Job)
        .where(
            Job.status == "running",
            Job.lease_until < now,
            Job.attempts >= Job.max_attempts,
        )
        .values(
            status="dead",
            locked_by=None,
            finished_at=now,
            updated_at=now,
            last_error=func.coalesce(Job.last_error, "worker lost its lease on the last attempt"),
        )
        .returning(*_CLAIMED)
        .execution_options(synchronize_session=False)
    )
    return [ClaimedJob(*row) for row in result.all()]


async def claim(
    session: AsyncSession,
    worker_id: str,
    lease_seconds: int,
    limit: int = 1,
    now: dt.datetime | None = None,
) -> list[ClaimedJob]:
    """Lease up to ``limit`` due jobs to ``worker_id`` (the caller commits at once)."""
    now = now or utcnow()
    due = or_(
        and_(Job.status == "queued", Job.run_at <= now),
        # A lapsed lease means the worker died; with attempts left, run it again
        # (bury_abandoned handles the ones without).
        and_(
            Job.status == "running",
            Job.lease_until < now,
            Job.attempts < Job.max_attempts,
        ),
    )
    eligible = select(Job.id).where(due).order_by(Job.priority, Job.run_at, Job.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Materialized, so the locked set is chosen once: as a plain IN (...)
        # subquery PostgreSQL may re-run it per row and, skipping the rows it
        # just locked, hand out more than `limit` jobs.
        chosen = eligible.with_for_update(skip_locked=True).cte("due_jobs")
        chosen = chosen.prefix_with("MATERIALIZED")
    else:
        chosen = eligible.cte("due_jobs")
    result = await session.execute(
        update(Job)
        .where(Job.id == chosen.c.id, due)
        .values(
            status="running",
            locked_by=worker_id,
            lease_until=now + dt.timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1,
            updated_at=now,
        )
        .returning(*_CLAIMED)
        .execution_options(synchronize_session=False)
    )
    return [ClaimedJob(*row) for row in result.all()]


async def heartbeat(session: AsyncSession, job_id: str, worker_id: str, lease_seconds: int) -> bool:
    """Extend the lease; False when the job is no longer ours."""
    now = utcnow()
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.locked_by == worker_id, Job.status == "running")
        .values(lease_until=now + dt.timedelta(seconds=lease_seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def complete(session: AsyncSession, job_id: str, worker_id: str) -> bool:
    now = utcnow()
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.locked_by == worker_id, Job.status == "running")
        .values(status="done", locked_by=None, lease_until=None, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def backoff(attempts: int) -> float:
    """Exponential with jitter: ~2 s, 4 s, 8 s, ... capped at 10 minutes."""
    delay: float = min(BACKOFF_BASE * 2.0 ** max(attempts - 1, 0), BACKOFF_CAP)
    return delay * random.uniform(0.75, 1.25)


async def fail(session: AsyncSession, job: ClaimedJob, worker_id: str, error: str) -> str | None:
    """Record a failed attempt: back to the queue with backoff, or dead. Returns the status."""
    now = utcnow()
    dead = job.attempts >= job.max_attempts
    values: dict[str, Any] = {
        "locked_by": None,
        "lease_until": None,
        "last_error": error[:MAX_ERROR],
        "updated_at": now,
    }
    if dead:
        values.update(status="dead", finished_at=now)
    else:
        values.update(status="queued", run_at=now + dt.timedelta(seconds=backoff(job.attempts)))
    result = await session.execute(
        update(Job)
        .where(Job.id == job.id, Job.locked_by == worker_id, Job.status == "running")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return "dead" if dead else "queued"


def defer_delay(deferrals: int) -> float:
    """After the ``deferrals``-th deferral: ~2 s, 4 s, 8 s, ... capped at `DEFER_CAP`."""
    delay: float = min(BACKOFF_BASE * 2.0 ** max(deferrals - 1, 0), DEFER_CAP)
    return delay * random.uniform(0.75, 1.25)


async def defer(session: AsyncSession, job: ClaimedJob, worker_id: str, reason: str) -> bool:
    """Put a job whose handler raised `Deferred` back in the queue: its attempt
    is given back and ``deferrals`` counted, which sets the backoff. Only while
    ``worker_id`` holds the lease; False when it no longer does."""
    now = utcnow()
    deferrals = await session.scalar(
        select(Job.deferrals).where(Job.id == job.id, Job.locked_by == worker_id)
    )
    if deferrals is None:
        return False
    return await _requeue(
        session,
        job,
        worker_id,
        deferrals=Job.deferrals + 1,
        run_at=now + dt.timedelta(seconds=defer_delay(deferrals + 1)),
        last_error=f"deferred: {reason}"[:MAX_ERROR],
        updated_at=now,
    )


async def release(session: AsyncSession, job: ClaimedJob, worker_id: str) -> bool:
    """Give back a job that ``worker_id`` abandons as it stops (its handler has
    ended): queued and due at once, its attempt given back (the job did not
    fail; the process was stopped), so another worker takes it now rather than
    when the lease lapses. Only while ``worker_id`` holds the lease."""
    now = utcnow()
    return await _requeue(session, job, worker_id, run_at=now, updated_at=now)


async def _requeue(session: AsyncSession, job: ClaimedJob, worker_id: str, **values: Any) -> bool:
    """Back to the queue with its attempt given back (the claim counted one:
    running jobs have >= 1), only while ``worker_id`` holds the lease."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job.id, Job.locked_by == worker_id, Job.status == "running")
        .values(
            status="queued", locked_by=None, lease_until=None, attempts=Job.attempts - 1, **values
        )
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


# --- operator views -----------------------------------------------------------


async def list_jobs(session: AsyncSession, status: str | None = None, limit: int = 50) -> list[Job]:
    query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
    if status:
        query = query.where(Job.status == status)
    return list(await session.scalars(query))


async def stats(session: AsyncSession) -> dict[str, dict[str, int]]:
    rows = await session.execute(
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
    )
    out: dict[str, dict[str, int]] = {}
    for kind, status, count in rows.all():
        out.setdefault(kind, {})[status] = count
    return out


async def oldest_due(session: AsyncSession, now: dt.datetime) -> tuple[str, dt.datetime] | None:
    """The kind and due time of the job that has waited longest for a worker
    (queued and due): how far behind the workers are."""
    row = (
        await session.execute(
            select(Job.kind, Job.run_at)
            .where(Job.status == "queued", Job.run_at <= now)
            .order_by(Job.run_at, Job.id)
            .limit(1)
        )
    ).first()
    return (str(row[0]), row[1]) if row else None


# Not "done": finished jobs are most of the table and tell nothing about its health.
_OPEN_STATUSES = ("queued", "running", "dead")


async def depth(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Jobs by kind and status, for the statuses that need a worker or an operator
    (queued, running, dead): the metrics' view, read at every scrape, so it
    counts within the status index rather than over every job ever run."""
    rows = await session.execute(
        select(Job.kind, Job.status, func.count())
        .where(Job.status.in_(_OPEN_STATUSES))
        .group_by(Job.kind, Job.status)
    )
    out: dict[str, dict[str, int]] = {}
    for kind, status, count in rows.all():
        out.setdefault(kind, {})[status] = count
    return out


async def oldest_due_by_kind(session: AsyncSession, now: dt.datetime) -> dict[str, dt.datetime]:
    """Per kind, the due time of its queued job that has waited longest."""
    rows = await session.execute(
        select(Job.kind, func.min(Job.run_at))
        .where(Job.status == "queued", Job.run_at <= now)
        .group_by(Job.kind)
    )
    return {str(kind): due for kind, due in rows.all() if due is not None}


async def dead_since(session: AsyncSession, since: dt.datetime) -> int:
    """Jobs that died (used up their attempts) since ``since``."""
    count = await session.scalar(
        select(func.count()).select_from(Job).where(Job.status == "dead", Job.updated_at >= since)
    )
    return int(count or 0)


async def retry(session: AsyncSession, job_id: str) -> Job:
    """Requeue a dead (or finished) job now, with a fresh set of attempts."""
    job = await session.get(Job, job_id)
    if job is None:
        raise NotFound(f"No job {job_id}.")
    if job.status in ("queued", "running"):
        # Requeuing a running job would run it twice at once.
        raise AppError(409, "job_active", f"Job {job_id} is {job.status}; nothing to retry.")
    now = utcnow()
    job.status = "queued"
    job.attempts = 0
    job.run_at = now
    job.locked_by = None
    job.lease_until = None
    job.finished_at = None
    job.updated_at = now
    return job


async def retry_dead(session: AsyncSession) -> int:
    now = utcnow()
    result = await session.execute(
        update(Job)
        .where(Job.status == "dead")
        .values(status="queued", attempts=0, run_at=now, finished_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))
