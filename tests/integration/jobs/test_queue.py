"""The durable queue on both databases: claims, leases, backoff, dead jobs."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from imghost.context import AppContext
from imghost.db import utcnow
from imghost.jobs import queue
from imghost.jobs.models import Job
from imghost.jobs.registry import Registry
from imghost.jobs.worker import Worker
from imghost.settings import Settings
from tests.helpers.context import with_ctx


async def _enqueue(ctx: AppContext, n: int = 1, max_attempts: int = 3) -> list[str]:
    async with ctx.sessions() as s:
        ids = [queue.enqueue(s, "t", {"n": i}, max_attempts=max_attempts).id for i in range(n)]
        await s.commit()
    return ids


async def _job(ctx: AppContext, job_id: str) -> Job:
    async with ctx.sessions() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        return job


def test_claim_complete(settings: Settings) -> None:
    async def scenario(ctx: AppContext) -> None:
        [job_id] = await _enqueue(ctx)
        async with ctx.sessions() as s:
            claimed = await queue.claim(s, "w1", 30)
            await s.commit()
        assert [c.id for c in claimed] == [job_id] and claimed[0].attempts == 1
        async with ctx.sessions() as s:
            assert await queue.claim(s, "w2", 30) == []  # leased: nobody else gets it
            assert await queue.complete(s, job_id, "w2") is False  # not w2's
            assert await queue.complete(s, job_id, "w1") is True
            await s.commit()
        job = await _job(ctx, job_id)
        assert job.status == "done" and job.finished_at is not None and job.locked_by is None
        await _enqueue(ctx, n=3)
        async with ctx.sessions() as s:  # the limit holds (PostgreSQL re-scan trap)
            assert len(await queue.claim(s, "w3", 30, limit=2)) == 2
            await s.commit()

    with_ctx(settings, scenario)


def test_backoff_then_dead(settings: Settings) -> None:
    async def scenario(ctx: AppContext) -> None:
        [job_id] = await _enqueue(ctx, max_attempts=3)
        now = utcnow()
        delays = []
        for attempt in range(1, 4):
            async with ctx.sessions() as s:
                [claimed] = await queue.claim(s, "w", 30, now=now)
                assert claimed.attempts == attempt
                failed_at = utcnow()
                status = await queue.fail(s, claimed, "w", f"boom {attempt}")
                await s.commit()
            job = await _job(ctx, job_id)
            if attempt < 3:
                assert status == "queued" and job.status == "queued"
                delays.append((job.run_at - failed_at).total_seconds())
                async with ctx.sessions() as s:  # not due yet
                    assert await queue.claim(s, "w", 30, now=failed_at) == []
                now = job.run_at + dt.timedelta(milliseconds=1)
            else:
                assert status == "dead" and job.status == "dead"
                assert job.last_error == "boom 3"
        # ~2 s then ~4 s, each with ±25 % jitter: exponential.
        assert 1.4 <= delays[0] <= 2.6 and 2.9 <= delays[1] <= 5.1

    with_ctx(settings, scenario)


def test_lease_expiry_hands_the_job_over(settings: Settings) -> None:
    async def scenario(ctx: AppContext) -> None:
        [job_id] = await _enqueue(ctx, max_attempts=2)
        async with ctx.sessions() as s:
            await queue.claim(s, "dead-worker", 1)
            await s.commit()
        later = utcnow() + dt.timedelta(seconds=5)
        async with ctx.sessions() as s:
            [again] = await queue.claim(s, "live-worker", 30, now=later)
            await s.commit()
        assert again.id == job_id and again.attempts == 2
        async with ctx.sessions() as s:
            # The first worker comes back from the dead: its outcome is ignored.
            assert await queue.complete(s, job_id, "dead-worker") is False
            assert await queue.heartbeat(s, job_id, "dead-worker", 30) is False
            await s.commit()
        # The second holder also dies, on the last attempt: the job is dead.
        much_later = later + dt.timedelta(seconds=60)
        async with ctx.sessions() as s:
            assert await queue.claim(s, "w3", 30, now=much_later) == []
            buried = await queue.bury_abandoned(s, now=much_later)
            await s.commit()
        assert [b.id for b in buried] == [job_id]
        job = await _job(ctx, job_id)
        assert job.status == "dead" and "lease" in (job.last_error or "")

    with_ctx(settings, scenario)


def test_concurrent_claims_never_share_a_job(settings: Settings) -> None:
    async def scenario(ctx: AppContext) -> None:
        ids = await _enqueue(ctx, n=40)

        async def claimer(name: str) -> list[str]:
            got: list[str] = []
            while True:
                async with ctx.sessions() as s:
                    batch = await queue.claim(s, name, 30, limit=3)
                    await s.commit()
                if not batch:
                    return got
                got.extend(c.id for c in batch)

        results = await asyncio.gather(*(claimer(f"w{i}") for i in range(4)))
        flat = [job_id for r in results for job_id in r]
        assert sorted(flat) == sorted(ids)  # every job once, none twice

    with_ctx(settings, scenario)


def test_worker_runs_handlers_and_records_failures(settings: Settings) -> None:
    seen: list[int] = []

    async def ok(payload: dict[str, Any]) -> None:
        seen.append(payload["n"])

    async def broken(payload: dict[str, Any]) -> None:
        raise RuntimeError("kaput")

    async def scenario(ctx: AppContext) -> None:
        async with ctx.sessions() as s:
            good = [queue.enqueue(s, "ok", {"n": i}).id for i in range(3)]
            bad = queue.enqueue(s, "broken", {}, max_attempts=1).id
            unknown = queue.enqueue(s, "nope", {}, max_attempts=1).id
            await s.commit()
        registry = Registry()
        registry.add("ok", ok)
        registry.add("broken", broken)
        lease, timeout = ctx.settings.job_lease, ctx.settings.job_timeout
        worker = Worker(
            ctx.sessions, registry, lease=lease, timeout=timeout, concurrency=2, periodic=False
        )
        assert await worker.run_until_idle() == 5
        assert sorted(seen) == [0, 1, 2]
        for job_id in good:
            assert (await _job(ctx, job_id)).status == "done"
        failed = await _job(ctx, bad)
        assert failed.status == "dead" and failed.last_error == "RuntimeError: kaput"
        assert "no handler" in ((await _job(ctx, unknown)).last_error or "")
        async with ctx.sessions() as s:
            counts = await queue.stats(s)
            assert counts["ok"] == {"done": 3} and counts["broken"] == {"dead": 1}
            assert await queue.retry_dead(s) == 2
            await s.commit()
        assert (await _job(ctx, bad)).status == "queued"

    with_ctx(settings, scenario)


def test_the_commit_that_enqueued_wakes_the_workers(settings: Settings) -> None:
    async def scenario(ctx: AppContext) -> None:
        woken: list[str] = []
        stop = queue.wake_on_commit(ctx.sessions, lambda: woken.append("woken"))
        try:
            async with ctx.sessions() as s:
                queue.enqueue(s, "t", {})
                await s.flush()
                await s.rollback()  # the job is gone: nothing to wake for
                await s.commit()
            async with ctx.sessions() as s:
                queue.enqueue(s, "t", {})
                await s.rollback()
                await s.commit()
            async with ctx.sessions() as s:
                await s.get(Job, "job_none")
                await s.commit()
            assert woken == []
            await _enqueue(ctx, n=2)
            assert woken == ["woken"]  # once per commit
            async with ctx.sessions() as s:
                queue.enqueue(s, "t", {})
                await s.flush()
                savepoint = await s.begin_nested()
                await savepoint.rollback()  # not the job's transaction
                await s.commit()
            assert woken == ["woken", "woken"]
        finally:
            stop()
        await _enqueue(ctx)
        assert woken == ["woken", "woken"]

    with_ctx(settings, scenario)


def test_a_deferred_job_keeps_its_attempts(settings: Settings) -> None:
    """A handler that raises Deferred (what it needs is down) is put back with
    backoff growing per deferral, its attempt given back: one allowed attempt
    survives any number of deferrals, and the next run completes it. Only the
    lease holder can defer."""
    down = True

    async def needs_a_service(payload: dict[str, Any]) -> None:
        if down:
            raise queue.Deferred("the service is down")

    async def scenario(ctx: AppContext) -> None:
        nonlocal down
        [job_id] = await _enqueue(ctx, max_attempts=1)
        registry = Registry()
        registry.add("t", needs_a_service)
        worker = Worker(ctx.sessions, registry, lease=30, timeout=30, concurrency=1, periodic=False)
        delays = []
        for deferral in (1, 2, 3, 4):
            async with ctx.sessions() as s:  # due now, instead of waiting out the backoff
                await s.execute(update(Job).where(Job.id == job_id).values(run_at=utcnow()))
                await s.commit()
            before = utcnow()
            assert await worker.run_until_idle() == 1
            job = await _job(ctx, job_id)
            assert (job.status, job.attempts, job.deferrals) == ("queued", 0, deferral)
            assert job.last_error == "deferred: the service is down" and job.locked_by is None
            delays.append((job.run_at - before).total_seconds())
        assert 1.0 < delays[0] < 3.0 and delays[3] > delays[0]  # ~2 s, 4 s, 8 s, 16 s
        down = False
        async with ctx.sessions() as s:
            await s.execute(update(Job).where(Job.id == job_id).values(run_at=utcnow()))
            await s.commit()
        assert await worker.run_until_idle() == 1
        job = await _job(ctx, job_id)
        assert (job.status, job.attempts) == ("done", 1)

        [other] = await _enqueue(ctx)
        async with ctx.sessions() as s:
            (claimed,) = await queue.claim(s, "w1", 30)
            await s.commit()
        async with ctx.sessions() as s:
            assert claimed.id == other
            assert await queue.defer(s, claimed, "w2", "not mine") is False
            assert await queue.defer(s, claimed, "w1", "down") is True
            await s.commit()
        assert queue.defer_delay(50) <= queue.DEFER_CAP * 1.25

    with_ctx(settings, scenario)


@pytest.mark.timeout(60)
def test_a_wake_in_the_turn_of_the_cancel_still_stops_the_worker(settings: Settings) -> None:
    # A commit at shutdown (the view counts' last flush) woke the idle slots in
    # the very turn the lifespan cancelled the worker. asyncio.wait_for on 3.11
    # then returned as if woken and dropped the cancellation: the slots idled on
    # and `imghost serve` hung at exit until killed.
    async def scenario(ctx: AppContext) -> None:
        worker = Worker(
            ctx.sessions, Registry(), lease=30, timeout=5, concurrency=2, periodic=False
        )
        running = asyncio.create_task(worker.run())
        for _ in range(20):  # the slots claim nothing and go idle
            await asyncio.sleep(0.01)
        worker.wake()
        running.cancel()
        async with asyncio.timeout(5):
            with pytest.raises(asyncio.CancelledError):
                await running

    with_ctx(settings, scenario)


@pytest.mark.timeout(60)
def test_a_cancellation_a_library_swallows_still_stops_the_worker(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lifespan's cancel sometimes landed inside a claim's database call and
    # was lost there (a live server of the suite then never stopped, its slot
    # claiming on from a dropped database). The slots check for a pending
    # cancellation on every turn.
    claiming = asyncio.Event()

    async def swallowing_claim(*args: Any, **kwargs: Any) -> list[queue.ClaimedJob]:
        claiming.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.2)
        return []

    monkeypatch.setattr(queue, "claim", swallowing_claim)

    async def scenario(ctx: AppContext) -> None:
        worker = Worker(
            ctx.sessions, Registry(), lease=30, timeout=5, concurrency=1, periodic=False
        )
        running = asyncio.create_task(worker.run())
        await claiming.wait()
        running.cancel()
        async with asyncio.timeout(5):
            with pytest.raises(asyncio.CancelledError):
                await running

    with_ctx(settings, scenario)


def test_interactive_jobs_are_claimed_before_bulk_ones(settings: Settings) -> None:
    """An operator's sweep queued first still waits for the upload after it."""

    async def scenario(ctx: AppContext) -> None:
        async with ctx.sessions() as s:
            sweep = [queue.enqueue(s, "t", {"n": i}, priority=queue.BULK).id for i in range(3)]
            await s.commit()
        [upload] = await _enqueue(ctx)
        for expected in (upload, *sweep):  # then oldest first
            async with ctx.sessions() as s:
                [claimed] = await queue.claim(s, "w", 30)
                await s.commit()
            assert claimed.id == expected

    with_ctx(settings, scenario)


@pytest.mark.timeout(60)
def test_a_stopping_worker_finishes_what_it_can_and_releases_the_rest(settings: Settings) -> None:
    """stop(): no new claim; a job that ends within the grace is recorded done;
    the one still running when the worker gives up is cancelled and, once its
    handler has ended, given back due at once with its attempt returned, so
    another worker claims it immediately instead of after the lease lapses."""
    started = {"quick": asyncio.Event(), "slow": asyncio.Event()}
    finish_quick = asyncio.Event()
    slow_ended: list[str] = []

    async def handler(payload: dict[str, Any]) -> None:
        started[payload["kind"]].set()
        if payload["kind"] == "quick":
            await finish_quick.wait()
            return
        try:
            await asyncio.Event().wait()  # for ever
        except asyncio.CancelledError:
            slow_ended.append("cancelled")
            raise

    async def scenario(ctx: AppContext) -> None:
        async with ctx.sessions() as s:
            quick = queue.enqueue(s, "t", {"kind": "quick"}).id
            slow = queue.enqueue(s, "t", {"kind": "slow"}).id
            await s.commit()
        registry = Registry()
        registry.add("t", handler)
        worker = Worker(ctx.sessions, registry, lease=30, timeout=30, concurrency=2, periodic=False)
        running = asyncio.create_task(worker.run())
        async with asyncio.timeout(20):
            await started["quick"].wait()
            await started["slow"].wait()
            # A second's grace: the quick job ends within it, the slow one never.
            worker.stop(1.0)
            finish_quick.set()
            [later] = await _enqueue(ctx)  # queued after the stop: never claimed
            await running
        assert (await _job(ctx, quick)).status == "done"
        assert slow_ended == ["cancelled"]
        job = await _job(ctx, slow)
        assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)
        assert job.run_at <= utcnow()
        assert (await _job(ctx, later)).status == "queued"
        async with ctx.sessions() as s:
            claimed = await queue.claim(s, "another-worker", 30, limit=5)
            await s.commit()
        assert {c.id for c in claimed} == {slow, later}

    with_ctx(settings, scenario)


@pytest.mark.timeout(60)
def test_a_cancelled_worker_releases_the_jobs_it_was_running(settings: Settings) -> None:
    started = asyncio.Event()

    async def hang(payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    async def scenario(ctx: AppContext) -> None:
        [job_id] = await _enqueue(ctx)
        registry = Registry()
        registry.add("t", hang)
        worker = Worker(ctx.sessions, registry, lease=30, timeout=30, concurrency=1, periodic=False)
        running = asyncio.create_task(worker.run())
        async with asyncio.timeout(20):
            await started.wait()
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
        job = await _job(ctx, job_id)
        assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)

    with_ctx(settings, scenario)
