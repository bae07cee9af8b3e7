"""Fair admission: per-user caps, round-robin grants, bounded queues."""

from __future__ import annotations

import asyncio

import pytest

from imghost.errors import AppError
from imghost.uploads.admission import FairGate


async def _hold(gate: FairGate, user: str, order: list[str], release: asyncio.Event) -> None:
    async with gate.admit(user):
        order.append(user)
        await release.wait()


def test_a_flood_of_one_user_delays_another_by_one_slot_at_most() -> None:
    async def scenario() -> None:
        gate = FairGate(slots=2, per_user=2, queue_per_user=20, queue_total=100, retry_after=30)
        order: list[str] = []
        release = [asyncio.Event() for _ in range(12)]
        tasks = [asyncio.create_task(_hold(gate, "mallory", order, release[i])) for i in range(10)]
        await asyncio.sleep(0)
        assert order == ["mallory", "mallory"] and gate.queued == 8
        alice = asyncio.create_task(_hold(gate, "alice", order, release[10]))
        await asyncio.sleep(0)
        # One of mallory's slots frees: it goes to alice, not to mallory's queue.
        release[0].set()
        await asyncio.sleep(0.01)
        assert order[-1] == "alice"
        for event in release:
            event.set()
        await asyncio.gather(*tasks, alice)
        assert gate.queued == 0 and gate.running("mallory") == 0

    asyncio.run(scenario())


def test_per_user_cap_leaves_room_for_others() -> None:
    async def scenario() -> None:
        gate = FairGate(slots=2, per_user=1, queue_per_user=5, queue_total=10, retry_after=30)
        order: list[str] = []
        hold = asyncio.Event()
        tasks = [asyncio.create_task(_hold(gate, "mallory", order, hold)) for _ in range(3)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(_hold(gate, "alice", order, hold)))
        await asyncio.sleep(0)
        assert order == ["mallory", "alice"]
        hold.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())


def test_queues_are_bounded_and_cancelled_waiters_leave() -> None:
    async def scenario() -> None:
        gate = FairGate(slots=1, per_user=1, queue_per_user=1, queue_total=2, retry_after=7.2)
        hold = asyncio.Event()
        order: list[str] = []
        first = asyncio.create_task(_hold(gate, "mallory", order, hold))
        waiting = asyncio.create_task(_hold(gate, "mallory", order, hold))
        await asyncio.sleep(0)
        with pytest.raises(AppError) as err:
            async with gate.admit("mallory"):
                pass
        assert (err.value.status, err.value.code) == (429, "validation_busy")
        assert err.value.headers == {"Retry-After": "8"}
        bob = asyncio.create_task(_hold(gate, "bob", order, hold))
        await asyncio.sleep(0)
        with pytest.raises(AppError) as err:
            async with gate.admit("carol"):
                pass
        assert (err.value.status, err.value.code) == (503, "server_busy")
        waiting.cancel()
        await asyncio.sleep(0)
        assert gate.queued == 1
        hold.set()
        await asyncio.gather(first, bob)
        assert order == ["mallory", "bob"] and gate.queued == 0

    asyncio.run(scenario())
