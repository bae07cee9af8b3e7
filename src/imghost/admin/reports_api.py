"""`/v1/admin/reports`: the moderators' queue of reported images, and their decisions.

Site admins only. Every decision here is an admin action the audit log records.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from imghost.deps import Db, SiteAdmin
from imghost.images import services as images
from imghost.reports import services
from imghost.reports.schemas import (
    AssignIn,
    DecisionOut,
    DismissIn,
    ImageBrief,
    QueueItemOut,
    QueueOut,
    ReportOut,
    ResolveIn,
    Status,
    report_out,
)

router = APIRouter(tags=["admin"])


@router.get("/v1/admin/reports", response_model=QueueOut)
async def report_queue(
    actor: SiteAdmin,
    db: Db,
    status: Status = "open",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> QueueOut:
    """Reported images with reports of `status`, most urgent first: the most
    severe reason, then the most reports, then the longest waiting (docs/API.md)."""
    page = await services.list_queue(db, status=status, limit=limit, cursor=cursor)
    found = await images.images_by_id(db, [g.image_id for g in page.groups])
    items = []
    for group in page.groups:
        image = found.get(group.image_id)
        brief = None
        if image is not None:
            brief = ImageBrief(
                image_id=image.id,
                owner_id=image.owner_id,
                title=image.title,
                status=image.status,
                visibility=image.visibility,
                deleted_at=image.deleted_at,
            )
        items.append(
            QueueItemOut(
                image_id=group.image_id,
                image=brief,
                report_count=group.count,
                top_reason=group.top_reason,
                oldest_at=group.oldest_at,
                newest_at=group.newest_at,
                assignee_id=group.assignee_id,
                reports=[report_out(r) for r in group.reports],
            )
        )
    return QueueOut(items=items, next_cursor=page.next_cursor)


@router.get("/v1/admin/reports/{report_id}", response_model=ReportOut)
async def get_report(report_id: str, actor: SiteAdmin, db: Db) -> ReportOut:
    return report_out(await services.get_report(db, report_id))


@router.post("/v1/admin/reports/{report_id}/assign", response_model=DecisionOut)
async def assign_report(
    report_id: str, actor: SiteAdmin, db: Db, body: AssignIn | None = None
) -> DecisionOut:
    """Take the report's image (every active report of it): to `adminId`, or to yourself."""
    assignee = (body.admin_id if body else None) or actor.user_id
    changed = await services.assign(db, report_id, assignee_id=assignee, by=actor.user_id)
    await db.commit()
    return await _decision(db, changed[0].image_id, "assigned", None, changed)


@router.post("/v1/admin/reports/{report_id}/resolve", response_model=DecisionOut)
async def resolve_report(report_id: str, body: ResolveIn, actor: SiteAdmin, db: Db) -> DecisionOut:
    """Act on the image (`quarantine`) and close every active report of it."""
    image_id, closed = await services.decide(
        db, report_id, resolution=body.action, by=actor.user_id, note=body.note
    )
    await db.commit()
    return await _decision(db, image_id, "resolved", body.action, closed)


@router.post("/v1/admin/reports/{report_id}/dismiss", response_model=DecisionOut)
async def dismiss_report(
    report_id: str, actor: SiteAdmin, db: Db, body: DismissIn | None = None
) -> DecisionOut:
    """No action on the image; every active report of it is closed as `dismissed`."""
    note = body.note if body else None
    image_id, closed = await services.decide(
        db, report_id, resolution="dismiss", by=actor.user_id, note=note
    )
    await db.commit()
    return await _decision(db, image_id, "dismissed", "dismiss", closed)


async def _decision(
    db: Db, image_id: str, status: Status, resolution: str | None, changed: list[services.Report]
) -> DecisionOut:
    image = await images.get_image(db, image_id)
    return DecisionOut(
        image_id=image_id,
        status=status,
        resolution=resolution,
        image_status=image.status if image is not None else None,
        reports=[report_out(r) for r in changed],
    )
