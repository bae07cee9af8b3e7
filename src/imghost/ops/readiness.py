"""Whether this API process should be sent traffic (``GET /readyz``).

Liveness (``/healthz``) says the process answers; readiness says what it
needs answers too: the database (``SELECT 1``), its schema at this release's
migration head, the blob store, Redis when IMGHOST_REDIS_URL names one, and,
when IMGHOST_READY_MAX_QUEUE_AGE is set, a job queue that is not far behind.

Each check is bounded by IMGHOST_READY_TIMEOUT: a database that hangs makes
the probe fail in that time, not hang with it. The result is kept for
:data:`CACHE_SECONDS` and computed by one caller at a time, so load balancers'
probes (and anyone else: the route needs no credentials) cannot turn into a
database load. What a check says is meant for anyone: reasons are exception
types and timings, never a URL, a host or a password (the log has the rest).

Migrations: the database may be *ahead* of this release (a rolling upgrade
migrated it for the next one, which each migration is written to allow), so
a revision this release does not know counts as ready; a revision it knows
that is not its head means the database is behind (run ``imghost migrate``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.db import utcnow
from imghost.jobs import queue
from imghost.settings import Settings
from imghost.storage import BlobStore

log = logging.getLogger(__name__)

#: Seconds a readiness result is reused.
CACHE_SECONDS = 1.0
#: A key no blob ever has: the store's answer to it (absent) shows it is reachable.
PROBE_KEY = "readyz/probe"


@dataclass(frozen=True)
class Revisions:
    """This release's migrations: its head, and every revision it knows."""

    head: str
    known: frozenset[str]


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


class Readiness:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: BlobStore,
        settings: Settings,
        revisions: Callable[[], Revisions],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.timeout = settings.ready_timeout
        self.max_queue_age = settings.ready_max_queue_age
        # Read in a thread on the first probe, then kept (one per process: the
        # migration scripts do not change under a running release).
        self.revisions = revisions
        self.redis: Redis | None = None
        if settings.redis_url:
            self.redis = Redis.from_url(
                settings.redis_url,
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout,
            )
        self.clock = clock
        self._lock = asyncio.Lock()
        self._result: dict[str, Check] | None = None
        self._at = 0.0

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    async def result(self) -> dict[str, Check]:
        """Every check's outcome, at most :data:`CACHE_SECONDS` old."""
        if self._result is not None and self.clock() - self._at < CACHE_SECONDS:
            return self._result
        async with self._lock:
            # Those who waited for the lock take what its holder found.
            if self._result is None or self.clock() - self._at >= CACHE_SECONDS:
                self._result = await self._check_all()
                self._at = self.clock()
            return self._result

    async def _check_all(self) -> dict[str, Check]:
        parts = [self._database(), self._store()]
        if self.redis is not None:
            parts.append(self._redis())
        results: dict[str, Check] = {}
        for found in await asyncio.gather(*parts):
            results.update(found)
        for name, check in results.items():
            if not check.ok:
                log.warning("readiness: %s is not ready: %s", name, check.detail)
        return results

    async def _bounded(self, name: str, step: Callable[[], Awaitable[Check]]) -> Check:
        try:
            async with asyncio.timeout(self.timeout):
                return await step()
        except TimeoutError:
            return Check(False, f"no answer within {self.timeout:g} s")
        except Exception as exc:
            # The type only: messages can hold hosts, URLs or a user name.
            log.warning("readiness: the %s check failed", name, exc_info=True)
            return Check(False, f"failed ({type(exc).__name__})")

    async def _database(self) -> dict[str, Check]:
        async with self.sessions() as session:

            async def reach() -> Check:
                await session.execute(text("SELECT 1"))
                return Check(True, "reachable")

            async def schema() -> Check:
                version = await session.scalar(text("SELECT version_num FROM alembic_version"))
                return await self._compare(None if version is None else str(version))

            async def backlog() -> Check:
                return await self._queue(session)

            found = {"database": await self._bounded("database", reach)}
            if not found["database"].ok:
                found["migrations"] = Check(False, "the database is not reachable")
                if self.max_queue_age:
                    found["queue"] = Check(False, "the database is not reachable")
                return found
            found["migrations"] = await self._bounded("migrations", schema)
            if self.max_queue_age:
                found["queue"] = await self._bounded("queue", backlog)
            await session.rollback()
            return found

    async def _compare(self, version: str | None) -> Check:
        revisions = await asyncio.to_thread(self.revisions)
        if version == revisions.head:
            return Check(True, f"at {version}")
        if version is None:
            return Check(False, f"no migrations applied; this release needs {revisions.head}")
        if version in revisions.known:
            return Check(
                False, f"at {version}, behind this release's {revisions.head} (imghost migrate)"
            )
        return Check(True, f"at {version}, ahead of this release's {revisions.head}")

    async def _queue(self, session: AsyncSession) -> Check:
        now = utcnow()
        oldest = await queue.oldest_due(session, now)
        if oldest is None:
            return Check(True, "no job waiting")
        kind, due_at = oldest
        waited = max((now - due_at) / dt.timedelta(seconds=1), 0.0)
        ok = waited <= self.max_queue_age
        limit = "within" if ok else "over"
        return Check(ok, f"oldest due job ({kind}) waited {waited:.0f} s, {limit} the limit")

    async def _store(self) -> dict[str, Check]:
        async def reach() -> Check:
            await self.store.head(PROBE_KEY)
            # Uploads spool here before they are stored, on S3 too.
            if not os.access(self.store.staging_dir, os.W_OK):
                return Check(False, "its spool directory is not writable")
            return Check(True, "reachable")

        return {"store": await self._bounded("store", reach)}

    async def _redis(self) -> dict[str, Check]:
        redis = self.redis
        assert redis is not None

        async def ping() -> Check:
            # redis-py types one method for its sync and async clients alike.
            await redis.ping()  # type: ignore[misc]
            return Check(True, "answers PING")

        return {"redis": await self._bounded("redis", ping)}


def failing(checks: dict[str, Check]) -> list[str]:
    return [name for name, check in checks.items() if not check.ok]
