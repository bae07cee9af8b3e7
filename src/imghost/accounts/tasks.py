"""The maintenance step that carries out account deletions whose grace passed.

Resumable like the image purge it reuses: each step's result is committed
before the next begins, and every step repeats safely.

1. *tombstone* (``accounts.deletion.make_tombstone``), committed.
2. *images* — every image the user owns outside an org is trashed and marked
   (``lifecycle.services.begin_owner_purge``), committed, then purged one by one
   by ``lifecycle.purge.purge_image`` (bytes, then rows, quota freed).
3. *exports* — the user's export ZIPs (``exports/{user}/``) are deleted.
4. *rows* — one transaction: the user's quota rows (``quotas.services.
   forget_account``), then every row of every table that points at ``users.id``
   with ``ON DELETE CASCADE`` (sessions, API keys, albums outside orgs, org
   memberships, notifications, webhooks, grants, uploads, exports, …), then
   ``purged_at``. Generic over the tables, so a table added later is purged
   too; ``images`` is never deleted this way (own images go through the purge,
   org images stay), nor rows an org owns (``org_id`` set, e.g. org albums).

The ``users`` row stays as the tombstone: org images it uploaded, and rows
that ``SET NULL`` or will be kept for audit, still point at it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.accounts import deletion
from imghost.db import Base, utcnow
from imghost.lifecycle import services as lifecycle
from imghost.quotas import services as quotas
from imghost.storage import BlobStore

log = logging.getLogger(__name__)

# Accounts begun per pass; the rest wait for the next one.
BATCH = 20
# Tables whose rows are never deleted by user id here (see the module docstring).
_NOT_BY_USER = frozenset({"users", "images"})


@dataclass(frozen=True)
class DeletionDeps:
    """What carrying out a deletion needs, handed over by the composition root."""

    sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    # lifecycle.purge.purge_image bound to its deps: the one purge of an image.
    purge_image: Callable[[str], Awaitable[bool]]
    trash_retention: int


@dataclass
class DeletionReport:
    begun: int = 0
    finished: int = 0
    failed: int = 0  # left unfinished; the next pass resumes them


def export_prefix(user_id: str) -> str:
    """Where a user's export ZIPs are kept (``exports.services`` writes there)."""
    return f"exports/{user_id}/"


async def sweep(deps: DeletionDeps, now: dt.datetime | None = None) -> DeletionReport:
    """One pass: tombstone every account whose grace ended, then finish every
    tombstone not yet purged (including ones a crashed pass left half done)."""
    now = now or utcnow()
    report = DeletionReport()
    async with deps.sessions() as session:
        for user_id in await deletion.due(session, now, BATCH):
            if await deletion.make_tombstone(session, user_id, now):
                report.begun += 1
            await session.commit()
        user_ids = await deletion.unfinished(session, BATCH)
    for user_id in user_ids:
        try:
            if await finish(deps, user_id, now):
                report.finished += 1
        except Exception:
            log.warning("deletion of %s failed; the next pass resumes it", user_id, exc_info=True)
            report.failed += 1
    if report.begun or report.finished or report.failed:
        log.info("account deletion sweep: %s", report)
    return report


async def finish(deps: DeletionDeps, user_id: str, now: dt.datetime | None = None) -> bool:
    """Steps 2-4 for a tombstone; True when the account is purged. Raises when
    the store or the database fails: the next pass resumes."""
    now = now or utcnow()
    previous: list[str] = []
    while True:
        async with deps.sessions() as session:
            marked = await lifecycle.begin_owner_purge(session, user_id, deps.trash_retention, now)
            await session.commit()
        if not marked:
            break
        if marked == previous:  # purges that end without removing the image: stop here
            raise RuntimeError(f"the images of {user_id} could not be purged")
        previous = marked
        for image_id in marked:
            await deps.purge_image(image_id)
    prefix = export_prefix(user_id)
    for key in [m.key async for m in deps.store.list(prefix)]:
        await deps.store.delete(key)
    async with deps.sessions() as session:
        await quotas.forget_account(session, user_id)
        for table in Base.metadata.sorted_tables[::-1]:
            await _delete_rows_of(session, table, user_id)
        await deletion.mark_purged(session, user_id, now)
        await session.commit()
    log.info("account %s purged", user_id)
    return True


async def _delete_rows_of(session: AsyncSession, table: Table, user_id: str) -> None:
    if table.name in _NOT_BY_USER:
        return
    for fk in table.foreign_keys:
        if fk.column.table.name != "users" or (fk.ondelete or "").upper() != "CASCADE":
            continue
        condition = fk.parent == user_id
        if "org_id" in table.c and fk.parent.name in ("owner_id", "created_by"):
            # Content an org owns stays with the org.
            condition = condition & table.c.org_id.is_(None)
        await session.execute(delete(table).where(condition))
