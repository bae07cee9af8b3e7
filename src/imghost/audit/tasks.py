"""The audit log's maintenance step: close login floods whose window ended,
delete events past their retention, scrub addresses and user agents past
theirs.

Scrubbing nulls the plain values only; the chain hashes their digests, so it
verifies as before. Deletion removes the oldest events, a prefix of the chain
(by id): the oldest event kept still carries its ``prev_hash``, the anchor the
walk starts from, so what remains verifies too. Each batch is a short
transaction of its own (the step commits, like every maintenance step).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.audit import floods
from imghost.audit.models import AuditEvent
from imghost.db import utcnow

BATCH = 5000  # rows per transaction


@dataclass(frozen=True)
class Retention:
    days: int  # events
    pii_days: int  # their addresses and user agents


@dataclass(frozen=True)
class Swept:
    floods_closed: int
    scrubbed: int
    deleted: int


async def _close_floods(sessions: async_sessionmaker[AsyncSession], now: dt.datetime) -> int:
    total = 0
    while True:
        async with sessions() as session:
            closed = await floods.close(session, ended_by=now)
            await session.commit()
        total += closed
        if not closed:
            return total


async def scrub(sessions: async_sessionmaker[AsyncSession], before: dt.datetime) -> int:
    """Null the addresses and user agents of events older than ``before``."""
    total = 0
    while True:
        async with sessions() as session:
            ids = list(
                await session.scalars(
                    select(AuditEvent.id)
                    .where(
                        AuditEvent.at < before,
                        or_(AuditEvent.address.is_not(None), AuditEvent.user_agent.is_not(None)),
                    )
                    .limit(BATCH)
                )
            )
            if ids:
                await session.execute(
                    update(AuditEvent)
                    .where(AuditEvent.id.in_(ids))
                    .values(address=None, user_agent=None)
                    .execution_options(synchronize_session=False)
                )
            await session.commit()
        total += len(ids)
        if len(ids) < BATCH:
            return total


async def expire(sessions: async_sessionmaker[AsyncSession], before: dt.datetime) -> int:
    """Delete the events older than ``before``, oldest first, as a prefix of the
    chain: up to the first event that is kept (an event a skewed clock dated
    earlier than one before it stays, with everything after it)."""
    async with sessions() as session:
        kept = await session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.at >= before))
        if kept is None:
            kept = 1 + int(await session.scalar(select(func.max(AuditEvent.id))) or 0)
    total = 0
    while True:
        async with sessions() as session:
            upto = await session.scalar(
                select(AuditEvent.id)
                .where(AuditEvent.id < kept)
                .order_by(AuditEvent.id)
                .offset(BATCH - 1)
                .limit(1)
            )
            bound = kept if upto is None else upto + 1
            result = await session.execute(
                delete(AuditEvent)
                .where(AuditEvent.id < bound)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        total += int(getattr(result, "rowcount", 0) or 0)
        if upto is None:
            return total


async def sweep(sessions: async_sessionmaker[AsyncSession], retention: Retention) -> Swept:
    now = utcnow()
    aggregates = await _close_floods(sessions, now)
    # Deleted first: rows about to go are not scrubbed for nothing.
    deleted = await expire(sessions, now - dt.timedelta(days=retention.days))
    scrubbed = await scrub(sessions, now - dt.timedelta(days=retention.pii_days))
    return Swept(aggregates, scrubbed, deleted)
