"""Failed sign-ins, aggregated so a flood does not write one event per request.

Per (account, address) and fixed window of :data:`WINDOW` seconds, the first
:data:`FREE` failures are recorded one by one (``auth.login_failed`` with
``attempt`` 1..FREE). Further failures in that window only count, in an
``audit_floods`` row (one upsert, no chain write, no wait on the chain's
head). The count is written as one aggregate ``auth.login_failed`` event
(``aggregate: true``, ``count``, ``firstAt``, ``lastAt``) when the pair next
signs in successfully (in the sign-in's transaction) or, failing that, by the
maintenance pass after the window ended.

Attempts the login throttle refuses (429 ``login_throttled``) are not
password checks and are not recorded at all: refusing them costs no database
write, which is the point of the throttle.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.audit import writer
from imghost.audit.models import AuditFlood
from imghost.audit.origin import Origin
from imghost.db import utcnow

WINDOW = 3600  # seconds of one aggregation window
FREE = 3  # failures per (account, address) and window recorded one by one
KIND = "auth.login_failed"
_FLOODS: Table = AuditFlood.__table__  # type: ignore[assignment]


def window_of(at: dt.datetime) -> dt.datetime:
    stamp = int(at.timestamp())
    return dt.datetime.fromtimestamp(stamp - stamp % WINDOW, dt.UTC)


def _insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(_FLOODS)
    return sqlite.insert(_FLOODS)


async def failed(
    session: AsyncSession,
    *,
    key: str,
    target: tuple[str, str] | None,
    details: dict[str, Any],
    origin: Origin,
) -> int | None:
    """Count one failure of the pair ``key``; the event id when it was recorded
    on its own, None when it only counted towards an aggregate."""
    now = utcnow()
    statement = _insert(session).values(
        key=key[:160],
        window_start=window_of(now),
        kind=KIND,
        target_type=target[0] if target else None,
        target_id=target[1] if target else None,
        address=origin.address,
        user_agent=origin.user_agent,
        details=details,
        count=1,
        first_at=now,
        last_at=now,
    )
    count = (
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[_FLOODS.c.key, _FLOODS.c.window_start],
                set_={"count": _FLOODS.c.count + 1, "last_at": now},
            ).returning(_FLOODS.c.count)
        )
    ).scalar_one()
    if count > FREE:
        return None
    return await writer.append(
        session,
        KIND,
        actor_id=None,
        actor_kind="anonymous",
        target=target,
        details={**details, "attempt": int(count)},
        origin=origin,
        at=now,
    )


async def close(
    session: AsyncSession, *, key: str | None = None, ended_by: dt.datetime | None = None
) -> int:
    """Write the aggregate of every flood of ``key`` (all its windows), or of
    every flood whose window ended by ``ended_by`` (500 at most), and drop
    their rows; how many rows were closed."""
    conditions: list[ColumnElement[bool]] = []
    if key is not None:
        conditions.append(AuditFlood.key == key[:160])
    if ended_by is not None:
        conditions.append(AuditFlood.window_start <= ended_by - dt.timedelta(seconds=WINDOW))
    closed = 0
    for flood_key, window in list(
        (
            await session.execute(
                select(AuditFlood.key, AuditFlood.window_start)
                .where(*conditions)
                .order_by(AuditFlood.window_start, AuditFlood.key)
                .limit(500)
            )
        ).all()
    ):
        # Claimed by deleting it: of two closers (a sign-in and the maintenance
        # pass), the one whose DELETE removed the row writes its aggregate.
        claimed = (
            await session.execute(
                delete(AuditFlood)
                .where(AuditFlood.key == flood_key, AuditFlood.window_start == window)
                .returning(*_FLOODS.c)
            )
        ).one_or_none()
        if claimed is None:
            continue
        flood = claimed._mapping  # a Row's own .count would shadow the column
        closed += 1
        if flood["count"] <= FREE:
            continue
        await writer.append(
            session,
            flood["kind"],
            actor_id=None,
            actor_kind="anonymous",
            target=(flood["target_type"], flood["target_id"])
            if flood["target_type"] and flood["target_id"]
            else None,
            details={
                **flood["details"],
                "aggregate": True,
                "count": flood["count"] - FREE,
                "firstAt": flood["first_at"].isoformat(),
                "lastAt": flood["last_at"].isoformat(),
            },
            origin=Origin(address=flood["address"], user_agent=flood["user_agent"]),
        )
    return closed
