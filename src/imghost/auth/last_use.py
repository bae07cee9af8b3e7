"""When and from where each session and API key was last used, without a
database write per request.

Each process remembers when it last wrote a credential's use and writes it
again only :data:`EVERY` seconds later; the UPDATE itself is conditional on
the stored time being that old, so several processes together still write a
credential at most about once a period. The write is a short transaction of
its own, in no request's (a GET commits nothing), and a failure to write is
logged and forgotten: the request goes on. Same idea as analytics' counts,
without the buffer: one small UPDATE per credential per minute is cheap.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.auth.models import ApiKey, AuthSession
from imghost.auth.services import Actor
from imghost.db import utcnow

log = logging.getLogger(__name__)

EVERY = 60.0  # seconds between two writes of one credential's last use
_MAX_REMEMBERED = 100_000


class LastUse:
    """One per process: the in-memory throttle, and the write."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._every = every
        self._clock = clock
        self._written: dict[tuple[str, str], float] = {}

    async def seen(self, actor: Actor, address: str) -> None:
        """Note one use of the actor's credential from ``address``."""
        key = (actor.via, actor.credential_id)
        now = self._clock()
        last = self._written.get(key)
        if last is not None and now - last < self._every:
            return
        if len(self._written) >= _MAX_REMEMBERED:
            self._written.clear()  # at worst, one more write per credential
        # Before the write: concurrent requests of one credential write once.
        self._written[key] = now
        table = AuthSession if actor.via == "token" else ApiKey
        at = utcnow()
        stale = at - dt.timedelta(seconds=self._every)
        try:
            async with self._sessions() as session:
                await session.execute(
                    update(table)
                    .where(
                        table.id == actor.credential_id,
                        or_(table.last_used_at.is_(None), table.last_used_at <= stale),
                    )
                    .values(last_used_at=at, last_used_address=address[:64])
                    .execution_options(synchronize_session=False)
                )
                await session.commit()
        except Exception:
            # Bookkeeping only: the request must not fail for it.
            log.warning("could not record the last use of %s", actor.credential_id, exc_info=True)
