"""How an idle worker's slots are woken: one poll per interval, one slot per
wake-up, a chain that fans a batch out, and no wake-up lost to a claim.

SQLite only: the scheduling is the worker's own and the same on both
databases (the claim statements are tested on both in test_queue), and on
PostgreSQL the NOTIFY of each commit would be a second wake-up source that
these counts would have to allow for (test_listen covers it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.context import AppContext
from imghost.jobs import queue
from imghost.jobs.registry import Registry
from imghost.jobs.worker import Worker, bury_interval
from imghost.settings import Settings
from tests.conftest import backend_fixture
from tests.helpers.context import with_ctx

backend = backend_fixture(["sqlite-local"])

WAIT = 10.0  # far below the polls these tests set, where one matters
NEVER = 3600.0  # a poll that never comes within a test


class Claims:
    """Counts the worker's claims (``queue.claim``) as they start, and lets a
    test await the n-th."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started: list[float] = []
        self.finished = 0
        self._waiters: list[tuple[int, asyncio.Event]] = []
        real = queue.claim

        async def counting(session: AsyncSession, *args: Any, **kwargs: Any) -> Any:
            self.started.append(asyncio.get_running_loop().time())
            try:
                return await real(session, *args, **kwargs)
            finally:
                self.finished += 1
                for n, event in self._waiters:
                    if self.finished >= n:
                        event.set()

        monkeypatch.setattr(queue, "claim", counting)

    async def finished_at_least(self, n: int) -> None:
        event = asyncio.Event()
        self._waiters.append((n, event))
        if self.finished >= n:
            event.set()
        async with asyncio.timeout(WAIT):
            await event.wait()


def _worker(ctx: AppContext, registry: Registry, concurrency: int, poll: float) -> Worker:
    return Worker(
        ctx.sessions,
        registry,
        lease=30,
        timeout=30,
        concurrency=concurrency,
        poll_interval=poll,
        periodic=False,
    )


@pytest.mark.timeout(60)
def test_an_idle_worker_polls_once_per_interval_not_once_per_slot(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims = Claims(monkeypatch)
    burials = 0
    real_bury = queue.bury_abandoned

    async def counting_bury(session: AsyncSession, *args: Any, **kwargs: Any) -> Any:
        nonlocal burials
        burials += 1
        return await real_bury(session, *args, **kwargs)

    monkeypatch.setattr(queue, "bury_abandoned", counting_bury)
    interval, slots, polls = 0.05, 4, 8

    async def scenario(ctx: AppContext) -> None:
        worker = _worker(ctx, Registry(), slots, interval)
        running = asyncio.create_task(worker.run())
        # Each slot's first claim, then the polls.
        await claims.finished_at_least(slots + polls)
        worker.stop(0)
        await running
        first_poll_due = claims.started[slots - 1]
        # One poller: a claim per interval. (A timer per slot made 8 in 2.)
        assert claims.started[slots + polls - 1] - first_poll_due >= (polls - 1) * interval
        # Burials run every min(lease/4, 5 s), not at each claim.
        assert bury_interval(30) == 5.0 and burials == 1

    with_ctx(settings, scenario)


@pytest.mark.timeout(60)
def test_a_batch_fans_out_to_as_many_slots_down_a_chain(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """k jobs committed at once run on k slots at the same time (each handler
    waits for all k to have started), and the commit's one wake-up costs k
    claims that find a job plus one that ends the chain: never one per slot."""
    claims = Claims(monkeypatch)
    k, slots = 3, 6
    started: set[int] = set()
    all_started = asyncio.Event()
    finish = asyncio.Event()

    async def handler(payload: dict[str, Any]) -> None:
        started.add(payload["n"])
        if len(started) == k:
            all_started.set()
        await finish.wait()

    async def scenario(ctx: AppContext) -> None:
        registry = Registry()
        registry.add("t", handler)
        worker = _worker(ctx, registry, slots, NEVER)
        running = asyncio.create_task(worker.run())
        await claims.finished_at_least(slots)  # every slot found nothing
        before = len(claims.started)
        async with ctx.sessions() as s:
            for n in range(k):
                queue.enqueue(s, "t", {"n": n})
            await s.commit()
        async with asyncio.timeout(WAIT):
            await all_started.wait()  # k at once: would hang if run one by one
        await claims.finished_at_least(before + k + 1)  # the claim that ended the chain
        worker.stop(WAIT)  # the slots end as their jobs end: no claim after
        finish.set()
        await running
        assert len(claims.started) - before == k + 1

    with_ctx(settings, scenario)


@pytest.mark.timeout(60)
def test_a_job_committed_during_a_claim_is_not_left_for_the_poll(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit lands after a claim's snapshot, and its wake-up finds no
    idle slot (the only one is claiming): the slot claims again at once
    rather than idling until a poll that never comes."""
    ran = asyncio.Event()
    first_claim = asyncio.Event()
    real_claim = queue.claim
    calls = 0

    async def handler(payload: dict[str, Any]) -> None:
        ran.set()

    async def scenario(ctx: AppContext) -> None:
        async def racing_claim(session: AsyncSession, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            first_claim.set()
            if calls == 2:
                # This claim saw the queue just before the commit below: it
                # finds nothing, and the commit's wake-up no idle slot.
                async with ctx.sessions() as s:
                    queue.enqueue(s, "t", {})
                    await s.commit()
                return []
            return await real_claim(session, *args, **kwargs)

        async def no_burial(session: AsyncSession, *args: Any, **kwargs: Any) -> list[Any]:
            return []

        monkeypatch.setattr(queue, "claim", racing_claim)
        # Not this test's subject, and on SQLite a burial's write in the claim's
        # transaction would hold the lock the racing commit needs.
        monkeypatch.setattr(queue, "bury_abandoned", no_burial)
        registry = Registry()
        registry.add("t", handler)
        worker = _worker(ctx, registry, 1, NEVER)
        running = asyncio.create_task(worker.run())
        await first_claim.wait()
        worker.wake()  # during (or after) the first claim: the second follows
        async with asyncio.timeout(WAIT):
            await ran.wait()
        worker.stop(0)
        await running
        assert calls >= 3

    with_ctx(settings, scenario)
