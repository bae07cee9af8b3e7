"""The chaos run: failures injected while the load runs, each recorded with the
window in which its errors are expected.

In order, spread over the run: SIGKILL an API process (the edge fails over; it is
started again or not), SIGKILL a worker and start it again (its leased job is
claimed by a worker once the lease lapses), SIGKILL Redis and start it again on
the same port (rate limits count in memory meanwhile), and restart PostgreSQL
(immediate stop, then start on the same port and data directory).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bench.cluster.load import Attempt, Record
from imghost.testing.cluster import Cluster

# After the database accepts connections again, answers already on their way
# (a pool's connection found dead on checkout, a request that began before) may
# still fail: this long after the restart still counts as its window.
DB_SETTLE = 2.0


@dataclass
class Event:
    name: str
    start: float  # seconds since the load began
    end: float

    def as_json(self) -> dict[str, object]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


async def run_chaos(
    cluster: Cluster, record: Record, duration: float, restart_api: bool = True
) -> list[Event]:
    """The failures at fixed fractions of ``duration``, each awaited to its end."""
    events: list[Event] = []

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, fraction * duration - record.now()))

    async def timed(name: str, action: Callable[[], None]) -> None:
        start = record.now()
        await asyncio.to_thread(action)
        events.append(Event(name, start, record.now()))

    await at(0.15)
    await timed("kill_api0", lambda: cluster.kill_api(0))
    restarting = (
        asyncio.create_task(timed("start_api0", lambda: cluster.start_api(0)))
        if restart_api
        else None
    )
    await at(0.30)
    await timed("kill_worker0", lambda: cluster.kill_worker(0))
    await timed("start_worker0", lambda: cluster.start_worker(0))
    await at(0.45)
    start = record.now()
    await asyncio.to_thread(cluster.kill_redis)
    await asyncio.sleep(1.0)  # an outage, not a blink
    await asyncio.to_thread(cluster.start_redis)
    events.append(Event("redis_down", start, record.now()))
    await at(0.60)
    await timed("restart_postgres", cluster.restart_postgres)
    if restarting is not None:
        await restarting
    return events


@dataclass
class Classified:
    """The 5xx answers and connection errors, by the failure that explains them."""

    db_window: list[Attempt]
    api_kill: list[Attempt]
    unexplained: list[Attempt]


def classify(record: Record, events: list[Event]) -> Classified:
    db = [e for e in events if e.name == "restart_postgres"]
    kills = [e for e in events if e.name.startswith("kill_api")]
    out = Classified([], [], [])
    for attempt in record.attempts:
        if attempt.status != 0 and attempt.status < 500:
            continue
        if any(attempt.end >= e.start and attempt.start <= e.end + DB_SETTLE for e in db):
            out.db_window.append(attempt)
        # In flight on the process at its SIGKILL: the edge answers 502 (a request
        # already sent is not sent again to another upstream unless idempotent).
        # Until the kill's end: a request may reach the process between the signal
        # and its death.
        elif attempt.status == 502 and any(
            attempt.start <= k.end and attempt.end >= k.start for k in kills
        ):
            out.api_kill.append(attempt)
        else:
            out.unexplained.append(attempt)
    return out
