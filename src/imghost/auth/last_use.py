"""When and from where each session and API key was last used, without a
database write per request.

Like analytics' view counts: a request only notes the use in this process's
memory (a dict update); every :data:`EVERY` seconds, and once more when the
app stops, the notes are written in one short transaction of their own, in
no request's (a GET commits nothing, and a request never takes a second
pooled connection for it). So each process writes a credential's last use at
most once a period, and the stored time is at most a period old; the session
list adds this process's notes not yet written. A write never moves a time
backwards (another process may have written a later use), and a failed write
gives its notes back for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, Update, bindparam, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.auth.models import ApiKey, AuthSession
from imghost.auth.services import Actor
from imghost.db import utcnow

log = logging.getLogger(__name__)

EVERY = 60.0  # seconds between two writes of the notes
_MAX_NOTES = 100_000  # past this, new credentials wait for the next write
_SESSIONS = cast(Table, AuthSession.__table__)
_KEYS = cast(Table, ApiKey.__table__)


@dataclass(frozen=True)
class Use:
    at: dt.datetime
    address: str


class LastUse:
    """One per API process: the notes, and the task that writes them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], every: float = EVERY) -> None:
        self._sessions = sessions
        self._every = every
        self._notes: dict[tuple[str, str], Use] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def seen(self, actor: Actor, address: str) -> None:
        """Note one use of the actor's credential from ``address`` (no I/O)."""
        key = (actor.via, actor.credential_id)
        if key in self._notes or len(self._notes) < _MAX_NOTES:
            self._notes[key] = Use(utcnow(), address[:64])

    def noted(self, via: str, credential_id: str) -> Use | None:
        """The latest use of a credential this process knows of and has not written yet."""
        return self._notes.get((via, credential_id))

    async def write(self) -> bool:
        """Write every note in one transaction; False (notes kept) if that failed."""
        notes, self._notes = self._notes, {}
        if not notes:
            return True
        try:
            async with self._sessions() as session:
                for via, table in (("token", _SESSIONS), ("api_key", _KEYS)):
                    rows = [
                        {"b_id": cid, "b_at": use.at, "b_address": use.address}
                        for (kind, cid), use in notes.items()
                        if kind == via
                    ]
                    if rows:
                        await session.execute(_statement(table), rows)
                await session.commit()
        except Exception:
            # Bookkeeping only: keep the notes (newer ones win) for the next write.
            for key, use in notes.items():
                self._notes.setdefault(key, use)
            log.warning(
                "could not record the last use of %d credentials", len(notes), exc_info=True
            )
            return False
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="last-use-writer")

    async def stop(self) -> None:
        """Stop the periodic writes after a last one (stopped by an event, not by
        cancelling, so a write is never cut off halfway)."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._every):
                    await self._stopping.wait()
            await self.write()


def _statement(table: Table) -> Update:
    """One UPDATE of a credential's last use, run for many (executemany)."""
    return (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            or_(table.c.last_used_at.is_(None), table.c.last_used_at < bindparam("b_at")),
        )
        .values(last_used_at=bindparam("b_at"), last_used_address=bindparam("b_address"))
    )
