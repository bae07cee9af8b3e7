"""Abuse reports: filing one, and the decisions admins take on an image's reports.

The public face of ``reports``: other features and the admin routes call
these. Services flush, never commit. Reports of one image are decided
together: assigning, resolving or dismissing one acts on every active
(``open`` or ``assigned``) report of its image, so the queue, which lists
images, never shows half of a decided image.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.audit import services as audit
from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.ids import new_id
from imghost.notifications import services as notifications
from imghost.reports.models import AbuseReport
from imghost.reports.queue import QueueGroup as QueueGroup
from imghost.reports.queue import QueuePage as QueuePage
from imghost.reports.queue import list_queue as list_queue
from imghost.reports.resolutions import apply_resolution
from imghost.reports.schemas import ACTIVE


@dataclass(frozen=True)
class Filed:
    report: AbuseReport
    created: bool  # False: a signed-in reporter's active report was updated


async def file_report(
    session: AsyncSession,
    *,
    image_id: str,
    reporter_id: str | None,
    reason: str,
    details: str | None,
) -> Filed:
    """A report of ``image_id`` (the caller checked that the reporter may see it).

    A signed-in reporter has at most one active report per image (a partial
    unique index): a repeat updates its reason and details. A new report of
    an image whose reports an admin already took joins that admin's work.
    A signed-in reporter is notified (``report.received``) in this transaction.
    """
    if reporter_id is not None:
        existing = await _active_of(session, image_id, reporter_id)
        if existing is not None:
            return Filed(await _update(session, existing, reason, details), created=False)
    now = utcnow()
    report = AbuseReport(
        id=new_id("rpt"),
        image_id=image_id,
        reporter_id=reporter_id,
        reason=reason,
        details=details,
        status="open",
        created_at=now,
        updated_at=now,
    )
    taken = (
        await session.execute(
            select(AbuseReport.assignee_id, AbuseReport.assigned_by, AbuseReport.assigned_at)
            .where(AbuseReport.image_id == image_id, AbuseReport.status == "assigned")
            .limit(1)
        )
    ).first()
    if taken is not None:
        report.status = "assigned"
        report.assignee_id, report.assigned_by, report.assigned_at = taken
    try:
        async with session.begin_nested():
            session.add(report)
    except IntegrityError:
        # The same reporter's other request won the race to insert: update that one.
        assert reporter_id is not None  # anonymous reports have no unique key
        existing = await _active_of(session, image_id, reporter_id)
        if existing is None:
            raise
        return Filed(await _update(session, existing, reason, details), created=False)
    if reporter_id is not None:
        await notifications.notify(
            session,
            user_id=reporter_id,
            kind="report.received",
            title="We received your report",
            body=(
                f"Thank you: your report of image {image_id} ({reason}) is in the "
                "moderators' queue. Its reference is " + report.id + "."
            ),
            data={"reportId": report.id, "imageId": image_id, "reason": reason},
        )
    return Filed(report, created=True)


async def _active_of(session: AsyncSession, image_id: str, reporter_id: str) -> AbuseReport | None:
    found: AbuseReport | None = await session.scalar(
        select(AbuseReport).where(
            AbuseReport.image_id == image_id,
            AbuseReport.reporter_id == reporter_id,
            AbuseReport.status.in_(ACTIVE),
        )
    )
    return found


async def _update(
    session: AsyncSession, report: AbuseReport, reason: str, details: str | None
) -> AbuseReport:
    report.reason = reason
    report.details = details
    report.updated_at = utcnow()
    await session.flush()
    return report


async def get_report(session: AsyncSession, report_id: str) -> AbuseReport:
    report = await session.get(AbuseReport, report_id) if len(report_id) <= 64 else None
    if report is None:
        raise NotFound("No such report.")
    return report


async def image_reports(session: AsyncSession, image_id: str, limit: int) -> list[AbuseReport]:
    """The image's reports, newest first (at most ``limit``)."""
    rows = await session.scalars(
        select(AbuseReport)
        .where(AbuseReport.image_id == image_id)
        .order_by(AbuseReport.created_at.desc(), AbuseReport.id.desc())
        .limit(limit)
    )
    return list(rows)


async def active_counts(session: AsyncSession, image_ids: Sequence[str]) -> dict[str, int]:
    """How many active reports each of these images has (absent: none)."""
    if not image_ids:
        return {}
    rows = await session.execute(
        select(AbuseReport.image_id, func.count())
        .where(AbuseReport.image_id.in_(image_ids), AbuseReport.status.in_(ACTIVE))
        .group_by(AbuseReport.image_id)
    )
    return {image_id: int(n) for image_id, n in rows}


def _closed() -> AppError:
    return AppError(
        409,
        "report_closed",
        "This report was already resolved or dismissed; nothing was changed.",
    )


async def assign(
    session: AsyncSession, report_id: str, *, assignee_id: str, by: str | None
) -> list[AbuseReport]:
    """Every active report of the report's image goes to ``assignee_id``
    (a site admin): 409 ``report_closed`` when the report is decided already,
    422 ``not_an_admin`` when the assignee is not a site admin."""
    report = await get_report(session, report_id)
    if report.status not in ACTIVE:
        raise _closed()
    assignee = await accounts.get_user(session, assignee_id)
    if not assignee.is_admin or assignee.deleted_at is not None:
        raise AppError(
            422, "not_an_admin", f"{assignee_id} is not a site admin: reports go to admins."
        )
    now = utcnow()
    await session.execute(
        update(AbuseReport)
        .where(AbuseReport.image_id == report.image_id, AbuseReport.status.in_(ACTIVE))
        .values(
            status="assigned",
            assignee_id=assignee.id,
            assigned_by=by,
            assigned_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    group = await _group(session, report.image_id, "assigned", assigned_at=now)
    await audit.record(
        session,
        "admin.report_assigned",
        actor_id=by,
        actor_kind=audit.by_admin(by),
        target=("image", report.image_id),
        details={"reportIds": [r.id for r in group], "assigneeId": assignee.id},
    )
    return group


async def close(
    session: AsyncSession,
    report_id: str,
    *,
    resolution: str,
    by: str | None,
    note: str | None,
) -> tuple[str, list[AbuseReport]]:
    """Close every active report of the report's image: ``resolved`` with the
    action taken (``resolution``), or ``dismissed`` (``resolution`` ``dismiss``).
    (image id, the reports closed). 409 ``report_closed`` when this report, or
    all of its image's, were decided already (by another admin just now).

    The caller applies the action to the image in the same transaction
    (``reports.resolutions``)."""
    report = await get_report(session, report_id)
    if report.status not in ACTIVE:
        raise _closed()
    status = "dismissed" if resolution == "dismiss" else "resolved"
    now = utcnow()
    done = await session.execute(
        update(AbuseReport)
        .where(AbuseReport.image_id == report.image_id, AbuseReport.status.in_(ACTIVE))
        .values(
            status=status,
            resolution=resolution,
            closed_by=by,
            closed_at=now,
            note=note,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    # A concurrent decision committed first (PostgreSQL re-checks the WHERE
    # after waiting on its row locks): this one changed nothing.
    if getattr(done, "rowcount", 0) == 0:
        raise _closed()
    return report.image_id, await _group(session, report.image_id, status, closed_at=now)


async def decide(
    session: AsyncSession, report_id: str, *, resolution: str, by: str | None, note: str | None
) -> tuple[str, list[AbuseReport]]:
    """Close every active report of the report's image (:func:`close`) and take
    the action on the image (``dismiss``: none), in the caller's transaction;
    audited. ``by``: the admin, None for the command line."""
    image_id, closed = await close(session, report_id, resolution=resolution, by=by, note=note)
    if resolution != "dismiss":
        await apply_resolution(session, image_id, resolution, by=by, note=note)
    await audit.record(
        session,
        "admin.report_dismissed" if resolution == "dismiss" else "admin.report_resolved",
        actor_id=by,
        actor_kind=audit.by_admin(by),
        target=("image", image_id),
        details={"reportIds": [r.id for r in closed], "resolution": resolution, "note": note},
    )
    return image_id, closed


async def _group(
    session: AsyncSession,
    image_id: str,
    status: str,
    *,
    assigned_at: dt.datetime | None = None,
    closed_at: dt.datetime | None = None,
) -> list[AbuseReport]:
    """The reports this decision changed, read back fresh."""
    query = select(AbuseReport).where(
        AbuseReport.image_id == image_id, AbuseReport.status == status
    )
    if assigned_at is not None:
        query = query.where(AbuseReport.assigned_at == assigned_at)
    if closed_at is not None:
        query = query.where(AbuseReport.closed_at == closed_at)
    rows = await session.scalars(
        query.order_by(AbuseReport.created_at, AbuseReport.id).execution_options(
            populate_existing=True
        )
    )
    return list(rows)


# The row type the admin routes map to answers (they import services and schemas only).
Report = AbuseReport
