"""The audit log's public face: what other features call to record an event,
and the two reads.

Recording: ``await record(session, "apikey.created", actor_id=user_id,
target=("apikey", key.id), details={...})`` inside the transaction of the
change it records, after the change, just before the caller commits (see
``audit.writer``). It flushes, never commits. The request's address and user
agent are taken from the request being served (``audit.origin``), and
``actor_kind`` defaults to ``cli`` under the admin commands, else ``user``
when there is an actor and ``anonymous`` when there is none; pass
``actor_kind="admin"`` for a site admin acting on someone else's things.
Kinds are dotted, ``area.what`` (``docs/API.md`` lists them). ``details`` is
small JSON (strings, numbers, booleans, lists, objects; no floats that are
not finite), never a secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.audit import floods, writer
from imghost.audit.models import AuditEvent
from imghost.audit.origin import Origin, acting, current
from imghost.errors import AppError

__all__ = [
    "Filters",
    "Origin",
    "acting",
    "admin_page",
    "as_admin",
    "cli_origin",
    "history",
    "login_failed",
    "login_succeeded",
    "record",
    "security_page",
]


async def record(
    session: AsyncSession,
    kind: str,
    *,
    actor_id: str | None = None,
    actor_kind: str | None = None,
    target: tuple[str, str] | None = None,
    details: Mapping[str, Any] | None = None,
    origin: Origin | None = None,
) -> int:
    """Append one event in the caller's transaction (flushed, not committed);
    its id. ``origin``: where it came from, when not the current request."""
    return await writer.append(
        session,
        kind,
        actor_id=actor_id,
        actor_kind=actor_kind,
        target=target,
        details=details,
        origin=origin,
    )


def as_admin(is_admin: bool, owner_id: str | None, actor_id: str) -> str | None:
    """``admin`` when a site admin acts on what is not theirs, else None (the default)."""
    return "admin" if is_admin and owner_id != actor_id else None


def by_admin(admin_id: str | None) -> str | None:
    """The actor kind of a moderation step: ``admin`` when a site admin took it
    through the API; None for the operator's command line, whose kind (``cli``)
    comes from the command's origin (:func:`cli_origin`)."""
    return "admin" if admin_id else None


def cli_origin() -> Origin:
    """The origin of the admin commands: no address, actor kind ``cli``."""
    return Origin(actor_kind="cli")


Stage = Literal["password", "mfa"]


def _flood_key(stage: Stage, user_id: str | None, account: str, address: str | None) -> str:
    # An unknown account is keyed by a digest of the e-mail tried, never the e-mail.
    who = user_id or "?" + hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"login:{stage}:{who}:{address or '-'}"


async def login_failed(
    session: AsyncSession, *, user_id: str | None, account: str, stage: Stage
) -> int | None:
    """A failed sign-in (wrong password, or wrong second-factor code) of the
    user, or of ``account`` (the normalized e-mail) no user has, from the
    current request, aggregated per (account, address) (``audit.floods``);
    the event id when it was
    recorded on its own. Call it in a transaction of its own: the refused
    request changes nothing else."""
    where = current()
    return await floods.failed(
        session,
        key=_flood_key(stage, user_id, account, where.address),
        target=("user", user_id) if user_id else None,
        details={"stage": stage} if user_id else {"stage": stage, "account": "unknown"},
        origin=where,
    )


async def login_succeeded(
    session: AsyncSession, *, user_id: str, method: str, session_id: str | None
) -> int:
    """A sign-in (a session started) in the sign-in's transaction: first the
    aggregate of the pair's failures since the last one, if any, then
    ``auth.login``."""
    address = current().address
    for stage in ("password", "mfa"):
        await floods.close(session, key=_flood_key(stage, user_id, "", address))
    details: dict[str, Any] = {"method": method}
    if session_id:
        details["sessionId"] = session_id
    return await record(
        session, "auth.login", actor_id=user_id, target=("user", user_id), details=details
    )


# --- reads ------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    actor: str | None = None
    target: str | None = None  # TYPE:ID, or an id of any type
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _utc(moment: dt.datetime) -> dt.datetime:
    """The moment in UTC (naive: UTC already); one beyond the calendar's ends
    once moved to UTC (0001-01-01 at +14:00) is the end itself."""
    aware = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    try:
        return aware.astimezone(dt.UTC)
    except OverflowError:
        edge = dt.datetime.min if aware.year == dt.MINYEAR else dt.datetime.max
        return edge.replace(tzinfo=dt.UTC)


def _conditions(filters: Filters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.kind:
        if filters.kind.endswith("*"):
            found.append(AuditEvent.kind.startswith(filters.kind[:-1], autoescape=True))
        else:
            # A kind and every kind below it: "auth" finds auth.login, auth.mfa_changed.
            found.append(
                or_(
                    AuditEvent.kind == filters.kind,
                    AuditEvent.kind.startswith(filters.kind + ".", autoescape=True),
                )
            )
    if filters.actor:
        found.append(AuditEvent.actor_id == filters.actor)
    if filters.target:
        kind, sep, ident = filters.target.partition(":")
        if sep:
            found.append(and_(AuditEvent.target_type == kind, AuditEvent.target_id == ident))
        else:
            found.append(AuditEvent.target_id == filters.target)
    if filters.since:
        found.append(AuditEvent.at >= _utc(filters.since))
    if filters.until:
        found.append(AuditEvent.at < _utc(filters.until))
    return found


def _encode(event_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([event_id]).encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        (event_id,) = json.loads(raw)
        # Ids are BIGINTs: anything else is no cursor of ours (and no query).
        if not isinstance(event_id, int) or isinstance(event_id, bool):
            raise ValueError
        if not 0 < event_id < 2**63:
            raise ValueError
    except (ValueError, TypeError):
        raise AppError(
            400, "invalid_cursor", "This cursor is malformed; start again without it."
        ) from None
    return event_id


async def _page(
    session: AsyncSession, query: Select[AuditEvent], limit: int, cursor: str | None
) -> tuple[Sequence[AuditEvent], str | None]:
    if cursor is not None:
        query = query.where(AuditEvent.id < _decode(cursor))
    rows = list(await session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    following = _encode(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], following


async def admin_page(
    session: AsyncSession, filters: Filters, limit: int, cursor: str | None
) -> tuple[Sequence[AuditEvent], str | None]:
    """Every event the filters match, newest first (site admins)."""
    return await _page(session, select(AuditEvent).where(*_conditions(filters)), limit, cursor)


async def security_page(
    session: AsyncSession, user_id: str, limit: int, cursor: str | None
) -> tuple[Sequence[AuditEvent], str | None]:
    """The events of ``user_id``'s own security log, newest first: those they
    caused, and those done to their account."""
    mine = or_(
        AuditEvent.actor_id == user_id,
        and_(AuditEvent.target_type == "user", AuditEvent.target_id == user_id),
    )
    return await _page(session, select(AuditEvent).where(mine), limit, cursor)


async def history(
    session: AsyncSession, target: tuple[str, str], limit: int = 200
) -> list[AuditEvent]:
    """The newest ``limit`` events about one thing (an image's actions, for an
    admin's view of it), oldest first."""
    kind, ident = target
    rows = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.target_type == kind, AuditEvent.target_id == ident)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))
