"""`POST /v1/images/{id}/reports`: anyone who can see an image may report it."""

from __future__ import annotations

from fastapi import APIRouter, Request

from imghost.access.decide import image_access
from imghost.access.policy import Action
from imghost.deps import Ctx, Db, Reads, Who
from imghost.images import services as images
from imghost.reports import services
from imghost.reports.schemas import ReportAck, ReportIn

router = APIRouter(tags=["reports"])


@router.post("/v1/images/{image_id}/reports", status_code=202, response_model=ReportAck)
async def report_image(
    image_id: str, body: ReportIn, request: Request, caller: Who, db: Db, reads: Reads, ctx: Ctx
) -> ReportAck:
    """Report an image to the moderators (anonymous callers too). Answered 202:
    the report waits in the admins' queue. A signed-in reporter has one open
    report per image (a repeat updates it) and is notified (`report.received`)."""
    # Counted first, before any read: a flood costs a counter, not the database.
    await ctx.reports.hit(request.client.host if request.client else "unknown")
    image = await images.get_image(db, image_id)
    await image_access(reads, caller, image, Action.VIEW_METADATA)
    filed = await services.file_report(
        db,
        image_id=image_id,
        reporter_id=caller.user_id,
        reason=body.reason,
        details=body.details,
    )
    await db.commit()
    return ReportAck(report_id=filed.report.id, status=filed.report.status)
