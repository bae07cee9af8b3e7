"""Routes: the site admins' view of the audit log, and each user's own security log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from imghost.audit import services
from imghost.audit.models import AuditEvent
from imghost.audit.schemas import AuditEventList, AuditEventOut, AuditTarget
from imghost.deps import CurrentActor, Db, SiteAdmin
from imghost.schemas import StorableStr

router = APIRouter(tags=["audit"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200, description="`next` of the previous page")]


def _out(row: AuditEvent, *, viewer: str | None = None) -> AuditEventOut:
    # In a user's own log, where and with what someone else acted stays theirs.
    own = viewer is None or row.actor_id == viewer
    return AuditEventOut(
        event_id=row.id,
        at=row.at,
        kind=row.kind,
        actor_id=row.actor_id if own else None,
        actor_kind=row.actor_kind,
        address=row.address if own else None,
        user_agent=row.user_agent if own else None,
        target=AuditTarget(type=row.target_type, id=row.target_id)
        if row.target_type and row.target_id
        else None,
        details=row.details,
    )


@router.get(
    "/v1/admin/audit",
    response_model=AuditEventList,
    responses={403: {"description": "forbidden: not a site admin"}},
)
async def admin_audit(
    admin: SiteAdmin,
    db: Db,
    kind: Annotated[
        StorableStr | None,
        Query(
            max_length=64,
            description="A kind and the kinds below it (`auth` finds `auth.login`); "
            "a trailing `*` is a plain prefix (`auth.login*`)",
        ),
    ] = None,
    actor_id: Annotated[
        StorableStr | None, Query(alias="actor", max_length=40, description="the acting user's id")
    ] = None,
    target: Annotated[
        StorableStr | None, Query(max_length=140, description="`TYPE:ID` (`user:u_…`), or an id")
    ] = None,
    since: Annotated[dt.datetime | None, Query(description="events at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="events before")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AuditEventList:
    """The audit log, newest first (site admins only)."""
    filters = services.Filters(kind=kind, actor=actor_id, target=target, since=since, until=until)
    rows, following = await services.admin_page(db, filters, limit, cursor)
    return AuditEventList(events=[_out(r) for r in rows], next=following)


@router.get("/v1/users/me/security-log", response_model=AuditEventList)
async def security_log(
    actor: CurrentActor, db: Db, limit: Limit = 50, cursor: Cursor = None
) -> AuditEventList:
    """Your own security events, newest first: sign-ins (and failed ones),
    password and two-factor changes, API keys, sessions, sharing, and what an
    administrator did to your account."""
    rows, following = await services.security_page(db, actor.user_id, limit, cursor)
    return AuditEventList(events=[_out(r, viewer=actor.user_id) for r in rows], next=following)
