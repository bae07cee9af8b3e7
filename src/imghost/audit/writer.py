"""Appending one event to the chain, in the caller's transaction.

The head row is *written first* (``UPDATE audit_head SET seq = seq + 1 …
RETURNING``): on PostgreSQL that takes its row lock, so a concurrent writer
waits there until this transaction ends and then reads the head this one
left; on SQLite the write takes the database's write lock (pysqlite begins
the transaction at the first write), so the head is read under it. Either way
two writers never chain onto the same head, and the lock is held until the
caller commits or rolls back; a rollback takes the event and the head's step
back together, so ids have no gaps.

Callers record last, just before their commit: every audited write then waits
for the head only at its end, and never holds the head while it waits for
another row (no lock-order deadlocks on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.audit import chain
from imghost.audit.models import AuditEvent, AuditHead
from imghost.audit.origin import Origin, current
from imghost.db import utcnow

_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]
_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
# system: the service itself, e.g. a hash-list match found by the processing job.
ACTOR_KINDS = ("user", "admin", "cli", "anonymous", "system")


async def append(
    session: AsyncSession,
    kind: str,
    *,
    actor_id: str | None,
    actor_kind: str | None,
    target: tuple[str, str] | None,
    details: Mapping[str, Any] | None,
    origin: Origin | None,
    at: dt.datetime | None = None,
) -> int:
    where = origin if origin is not None else current()
    who = actor_kind or where.actor_kind or ("user" if actor_id else "anonymous")
    if who not in ACTOR_KINDS:
        raise ValueError(f"actor kind {who!r} is not one of {ACTOR_KINDS}")
    # Pending ORM changes go first (autoflush), then the head: the lock is the
    # last thing this transaction takes.
    await session.flush()
    head = (
        await session.execute(
            update(_HEAD)
            .where(_HEAD.c.id == 1)
            .values(seq=_HEAD.c.seq + 1)
            .returning(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.pii_key)
        )
    ).one()
    seq, prev, key = int(head[0]), str(head[1]), str(head[2])
    address = where.address[:64] if where.address else None
    agent = where.user_agent[:200] if where.user_agent else None
    fields = chain.Fields(
        id=seq,
        # Taken under the lock, so times follow the chain's order within a
        # clock (a clock step between processes can still reorder them).
        at=at or utcnow(),
        kind=kind[:64],
        actor_id=actor_id,
        actor_kind=who,
        address_digest=chain.digest(key, address),
        user_agent_digest=chain.digest(key, agent),
        target_type=target[0][:32] if target else None,
        target_id=target[1][:100] if target else None,
        details=dict(details or {}),
    )
    digest = chain.link(prev, fields)
    await session.execute(
        insert(_EVENTS).values(
            id=fields.id,
            at=fields.at,
            kind=fields.kind,
            actor_id=fields.actor_id,
            actor_kind=fields.actor_kind,
            address=address,
            user_agent=agent,
            address_digest=fields.address_digest,
            user_agent_digest=fields.user_agent_digest,
            target_type=fields.target_type,
            target_id=fields.target_id,
            details=fields.details,
            prev_hash=prev,
            hash=digest,
        )
    )
    await session.execute(update(_HEAD).where(_HEAD.c.id == 1).values(hash=digest))
    return seq
