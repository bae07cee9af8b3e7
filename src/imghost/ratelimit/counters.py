"""Fixed-window counters in Redis (shared by every API process) or in memory.

Strategy: fixed windows (``limits``' ``incr`` with an expiry). A key's window
starts with its first hit and lasts the rule's period; Redis sets the expiry
only when the key is created, so every process sees the same window end.
Chosen over a moving window because the byte budget counts bytes: a moving
window stores one list entry per unit counted (a gigabyte would be a
billion entries), while a fixed window is one integer per key and one round
trip per hit. The price: a client can spend up to twice a budget around the
end of one window and the start of the next.

When Redis cannot be reached, counting falls back to this process's memory
(limits stay enforced, per process, instead of being dropped): the outage
is logged once when it starts and once when Redis answers again. Redis is
retried at most every :data:`RETRY_INTERVAL` seconds, so an outage costs at
most one failed round trip per interval, not one per request. Counts made
in memory during the outage are not carried over to Redis.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from imghost.settings import mask_credentials

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_INTERVAL = 2.0  # seconds between attempts to reach Redis during an outage
KEY_PREFIX = "imghost-ratelimit"
# Loopback or a LAN: a healthy Redis answers in well under a millisecond. A
# request never waits longer than this for a Redis that does not answer.
REDIS_TIMEOUT = 0.5
_MAX_CACHED_RESETS = 50_000


@dataclass(frozen=True)
class Window:
    """A key's count in its current window and when that window ends (epoch)."""

    count: int
    reset_at: float

    def remaining(self, item: RateLimitItem) -> int:
        return max(0, item.amount - self.count)

    def reset_in(self, now: float | None = None) -> int:
        """Whole seconds until the window ends (never 0 while it is full)."""
        now = time.time() if now is None else now
        return max(1, math.ceil(self.reset_at - now))


class _Backend:
    """One storage and the window ends it has reported, per key.

    A window's end never moves once the key exists (the expiry is set only
    on creation), so it is fetched once per window and then known: one
    round trip per hit instead of two.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.resets: dict[str, float] = {}

    async def incr(self, key: str, expiry: int, cost: int) -> Window:
        now = time.time()
        count = await self.storage.incr(key, expiry, amount=cost)
        if count == cost:  # this hit opened the window (or a concurrent one just did)
            reset_at = await self.storage.get_expiry(key)
        else:
            reset_at = self.resets.get(key, 0.0)
            if reset_at <= now:
                reset_at = await self.storage.get_expiry(key)
        self._remember(key, reset_at, now)
        return Window(count, reset_at)

    async def peek(self, key: str) -> Window:
        now = time.time()
        count = await self.storage.get(key)
        if count == 0:
            return Window(0, now)
        reset_at = self.resets.get(key, 0.0)
        if reset_at <= now:
            reset_at = await self.storage.get_expiry(key)
            self._remember(key, reset_at, now)
        return Window(count, reset_at)

    def _remember(self, key: str, reset_at: float, now: float) -> None:
        if len(self.resets) >= _MAX_CACHED_RESETS:
            self.resets = {k: v for k, v in self.resets.items() if v > now}
            if len(self.resets) >= _MAX_CACHED_RESETS:
                self.resets.clear()
        self.resets[key] = reset_at


class Counters:
    """Counters in Redis when ``redis_url`` is set, else (and during outages) in memory."""

    def __init__(self, redis_url: str = "") -> None:
        self.memory = _Backend(MemoryStorage())
        self.redis: _Backend | None = None
        self.pool: ConnectionPool | None = None
        self.redis_url = redis_url
        self.down_until = 0.0  # monotonic time before which Redis is not tried
        self.in_outage = False
        if redis_url:
            # Our own pool: bounded timeouts, one immediate reconnect (a pooled
            # connection may have died with a restarted server), no backoff
            # sleeps inside a request; and we can close it at shutdown.
            self.pool = ConnectionPool.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
                retry=Retry(NoBackoff(), 1),
            )
            options: dict[str, Any] = {"connection_pool": self.pool}
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=KEY_PREFIX,
                **options,
            )
            self.redis = _Backend(storage)

    @property
    def shared(self) -> bool:
        """Whether counts go to Redis right now."""
        return self.redis is not None and not self.in_outage

    async def incr(self, item: RateLimitItem, ident: str, cost: int) -> Window:
        key = item.key_for(ident)
        expiry = int(item.get_expiry())
        return await self._run(lambda backend: backend.incr(key, expiry, cost))

    async def peek(self, item: RateLimitItem, ident: str) -> Window:
        key = item.key_for(ident)
        return await self._run(lambda backend: backend.peek(key))

    async def _run(self, op: Callable[[_Backend], Awaitable[T]]) -> T:
        if self.redis is not None and time.monotonic() >= self.down_until:
            if self.in_outage:
                # One request probes a Redis that was down; the others keep
                # counting in memory meanwhile instead of all waiting on it.
                self.down_until = time.monotonic() + RETRY_INTERVAL
            try:
                result = await op(self.redis)
            except (TimeoutError, StorageError, OSError) as exc:
                self._failed(exc)
            else:
                if self.in_outage:
                    self.in_outage = False
                    self.down_until = 0.0  # the probe's hold is over: everyone back
                    log.warning(
                        "rate limits: Redis at %s answers again; counting is shared again",
                        mask_credentials(self.redis_url),
                    )
                return result
        return await op(self.memory)

    def _failed(self, exc: BaseException) -> None:
        self.down_until = time.monotonic() + RETRY_INTERVAL
        if not self.in_outage:
            self.in_outage = True
            log.warning(
                "rate limits: Redis at %s is unreachable (%s); counting in this process's "
                "memory until it is back (limits apply per process meanwhile)",
                mask_credentials(self.redis_url),
                exc,
            )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()
