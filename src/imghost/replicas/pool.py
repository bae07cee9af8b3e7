"""Each replica's engine, health and lag, and a connected session on a usable one.

A replica serves a read when it answers within ``timeout`` and its lag, last
measured at most ``lag_check`` seconds ago, is within ``max_lag``. The first
read after ``lag_check`` measures it again, on the connection it then reads
through (one extra round trip, for one read per interval). A replica that
refuses or does not answer is skipped for :data:`RETRY_AFTER` seconds; the
read that found it lost goes to the primary at once. Nothing here retries a
statement: a session is handed out only once it is connected and measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imghost.db import create_engine, session_factory
from imghost.replicas.config import replica_urls
from imghost.settings import ReplicaSettings, mask_credentials

log = logging.getLogger(__name__)

# Seconds a replica that failed is left alone before a read tries it again.
RETRY_AFTER = 5.0
# A replica takes only reads, and only some of them: half the primary's pool.
POOL_SIZE = 5
MAX_OVERFLOW = 5

# Seconds the replica is behind: 0 when it has replayed all the WAL it has
# received and is streaming (an idle primary sends nothing, and that is not
# lag); otherwise the age of the last transaction it replayed, which grows
# while replay is behind or the primary is out of reach. NULL (nothing
# replayed since it started, yet behind) counts as too far behind.
# pg_stat_wal_receiver shows every role its pid, enough to know it streams.
LAG = text(
    """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
             AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE pid IS NOT NULL) THEN 0
        ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
    END
    """
)

# What a lost replica raises: refused or reset (OSError), no answer in time
# (TimeoutError), or the driver's errors as SQLAlchemy wraps them.
LOST = (OSError, TimeoutError, DBAPIError)


@dataclass
class Replica:
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    down_until: float = 0.0
    lag: float = math.inf  # seconds behind, as last measured (inf: unknown)
    measured_at: float = -math.inf
    measuring: bool = False
    # What was last logged about it, so a state is logged when it starts, not per read.
    state: str = "ok"

    @property
    def name(self) -> str:
        return mask_credentials(self.url)


class ReplicaSet:
    """The replicas of one process, taken in turn."""

    def __init__(
        self,
        replicas: list[Replica],
        settings: ReplicaSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replicas = replicas
        self.max_lag = settings.replica_max_lag
        self.lag_check = settings.replica_lag_check
        self.timeout = settings.replica_timeout
        self.clock = clock
        self._turn = 0

    @classmethod
    def open(
        cls, settings: ReplicaSettings, info: dict[str, Any] | None = None
    ) -> ReplicaSet | None:
        """An engine per replica of ``IMGHOST_DATABASE_REPLICA_URLS``; None when there are none."""
        urls = replica_urls(settings)
        if not urls:
            return None
        replicas = []
        for url in urls:
            engine = create_engine(
                url,
                # Half the connect bound: a full pool means busy, not lost (below).
                pool_timeout=settings.replica_timeout / 2,
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                connect_args={"timeout": settings.replica_timeout},
            )
            replicas.append(Replica(url, engine, session_factory(engine, info)))
        return cls(replicas, settings)

    async def session(self) -> AsyncSession | None:
        """A session connected to a replica that may serve reads now, or None
        (then the read goes to the primary). The caller closes it."""
        replica = self._next()
        return None if replica is None else await self._connect(replica)

    def _next(self) -> Replica | None:
        now = self.clock()
        count = len(self.replicas)
        for step in range(count):
            replica = self.replicas[(self._turn + step) % count]
            if replica.down_until > now:
                continue
            if self._due(replica, now) or replica.lag <= self.max_lag:
                self._turn = (self._turn + step + 1) % count
                return replica
        return None

    def _due(self, replica: Replica, now: float) -> bool:
        """Whether this read should measure the replica's lag (one read at a time does)."""
        return not replica.measuring and now - replica.measured_at >= self.lag_check

    async def _connect(self, replica: Replica) -> AsyncSession | None:
        session = replica.sessions()
        measure = self._due(replica, self.clock())
        replica.measuring = replica.measuring or measure
        try:
            async with asyncio.timeout(self.timeout):
                await session.connection()
                if measure:
                    lag = (await session.execute(LAG)).scalar()
                    self._measured(replica, math.inf if lag is None else float(lag))
        except PoolTimeout:
            # Every pooled connection is busy: the replica is loaded, not lost.
            await session.close()
            return None
        except LOST as exc:
            self._lost(replica, exc)
            await _discard(session)
            return None
        except BaseException:
            await _discard(session)
            raise
        finally:
            if measure:
                replica.measuring = False
        if replica.lag > self.max_lag:
            await session.close()
            return None
        self._log_state(replica, "ok")
        return session

    def _measured(self, replica: Replica, lag: float) -> None:
        replica.lag = lag
        replica.measured_at = self.clock()
        if lag > self.max_lag:
            self._log_state(replica, "lagging")

    def _lost(self, replica: Replica, exc: BaseException) -> None:
        replica.down_until = self.clock() + RETRY_AFTER
        # Measured again when it is back: it may have fallen behind meanwhile.
        replica.measured_at = -math.inf
        self._log_state(replica, "down", exc)

    def _log_state(self, replica: Replica, state: str, exc: BaseException | None = None) -> None:
        if state == replica.state:
            return
        replica.state = state
        if state == "down":
            log.warning(
                "replica %s is unreachable (%s); its reads go to the primary, "
                "and it is tried again in %g s",
                replica.name,
                exc or "no answer",
                RETRY_AFTER,
            )
        elif state == "lagging":
            log.warning(
                "replica %s is %.1f s behind the primary (IMGHOST_REPLICA_MAX_LAG is %g); "
                "its reads go to the primary until it catches up",
                replica.name,
                replica.lag,
                self.max_lag,
            )
        else:
            log.warning("replica %s serves reads again", replica.name)

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.engine.dispose()


async def _discard(session: AsyncSession) -> None:
    """Close a session whose connection may be broken (or half made) without using it."""
    with contextlib.suppress(Exception):
        await session.invalidate()
    with contextlib.suppress(Exception):
        await session.close()
