"""The per-address limit on filing reports.

Counted like the sign-up limit (``auth.throttle``): fixed windows in the rate
limits' counters, in Redis when ``IMGHOST_REDIS_URL`` is set (shared by every
API process), else and during an outage in this process's memory, keyed by
the client address as the login throttle keys it (IPv6 by its /64, so
rotating inside one subscriber's block buys no fresh counts). Anonymous and
signed-in reporters alike: a report costs an admin's attention.
"""

from __future__ import annotations

from imghost.auth.throttle import address_key, parse_signup_limit
from imghost.errors import AppError
from imghost.ratelimit.counters import Counters


class ReportLimit:
    """One per process (in the ``AppContext``)."""

    def __init__(self, limit: str, redis_url: str) -> None:
        self.item = parse_signup_limit(limit)
        self.counters = Counters(redis_url)

    async def hit(self, address: str) -> None:
        """Count one report from ``address``; 429 ``rate_limited`` with
        ``Retry-After`` past the limit."""
        if self.item is None:
            return
        window = await self.counters.incr(self.item, f"report:{address_key(address)}", 1)
        if window.count > self.item.amount:
            retry = window.reset_in()
            raise AppError(
                429,
                "rate_limited",
                f"Too many reports from your address: {self.item.amount} per "
                f"{_period(self.item.multiples, self.item.GRANULARITY.name)} are allowed; "
                f"try again in {retry} seconds.",
                headers={"Retry-After": str(retry)},
            )

    async def close(self) -> None:
        await self.counters.close()


def _period(multiples: int, unit: str) -> str:
    return unit if multiples == 1 else f"{multiples} {unit}s"
