"""Read-your-writes: who wrote lately, in Redis, so their reads stay on the primary.

After a signed-in caller's write succeeds, a key ``imghost-sticky:USER`` is set
to expire after ``IMGHOST_REPLICA_STICKY_SECONDS``; while it exists, that
user's reads go to the primary, from every API process. No cookie carries
it: bearer tokens are all the API knows of a caller, and one user's clients
(a browser, a script) all see their writes.

Without Redis no process can know what another saw written, so every
signed-in read goes to the primary. When Redis fails, the same holds until
``seconds`` after the last failure: a marker that could not be written
meanwhile would have expired by then. Anonymous callers write nothing they
read back, and always may read a replica.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from imghost.settings import mask_credentials

log = logging.getLogger(__name__)

KEY_PREFIX = "imghost-sticky:"
# Loopback or a LAN answers in well under a millisecond; a read never waits
# longer than this on a Redis that does not answer (as the rate limits).
REDIS_TIMEOUT = 0.5
# Seconds between attempts to reach a Redis that failed.
RETRY_INTERVAL = 2.0
FAILURES = (RedisError, OSError, TimeoutError)


class StickyWriters:
    def __init__(
        self, redis_url: str, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.redis_url = redis_url
        self.seconds = seconds
        self.clock = clock
        self.redis: Redis | None = None
        if redis_url:
            # Our own pool: bounded timeouts, one immediate reconnect (a pooled
            # connection may have died with a restarted server), no backoff sleeps.
            self.redis = Redis(
                connection_pool=ConnectionPool.from_url(
                    redis_url,
                    socket_timeout=REDIS_TIMEOUT,
                    socket_connect_timeout=REDIS_TIMEOUT,
                    retry=Retry(NoBackoff(), 1),
                )
            )
        self.down_until = 0.0  # Redis is not tried before this (monotonic)
        self.unsure_until = 0.0  # markers may be missing until this

    async def mark(self, user_id: str) -> None:
        """``user_id`` has just written: keep their reads on the primary a while."""
        if self.redis is None:
            return
        now = self.clock()
        if now < self.down_until:
            self.unsure_until = max(self.unsure_until, now + self.seconds)
            return
        try:
            await self.redis.set(KEY_PREFIX + user_id, b"1", px=int(self.seconds * 1000))
        except FAILURES as exc:
            self._failed(exc)
        else:
            self._answered()

    async def holds(self, user_id: str) -> bool:
        """Whether ``user_id``'s reads must go to the primary now."""
        if self.redis is None or self.clock() < self.unsure_until:
            return True
        try:
            found = await self.redis.exists(KEY_PREFIX + user_id)
        except FAILURES as exc:
            self._failed(exc)
            return True
        self._answered()
        return bool(found)

    def _failed(self, exc: BaseException) -> None:
        now = self.clock()
        if self.down_until == 0.0:
            log.warning(
                "read replicas: Redis at %s is unreachable (%s); signed-in callers read "
                "from the primary until it is back",
                mask_credentials(self.redis_url),
                exc,
            )
        self.down_until = now + RETRY_INTERVAL
        self.unsure_until = max(self.unsure_until, now + self.seconds)

    def _answered(self) -> None:
        if self.down_until != 0.0:
            self.down_until = 0.0
            log.warning(
                "read replicas: Redis at %s answers again", mask_credentials(self.redis_url)
            )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
            await self.redis.connection_pool.aclose()
