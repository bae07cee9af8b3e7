"""Admin routes of takedowns: take down, reinstate, list (with counter-notices)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from imghost.deps import Db, SiteAdmin
from imghost.moderation import services as moderation
from imghost.moderation.schemas import TakedownIn, TakedownList, TakedownOut

router = APIRouter(tags=["admin"])


@router.post("/v1/admin/images/{image_id}/takedown", response_model=TakedownOut, status_code=201)
async def take_down(image_id: str, body: TakedownIn, admin: SiteAdmin, db: Db) -> TakedownOut:
    """Withhold the image from everyone but admins (451 on every path, out of
    every listing) and keep its bytes under legal hold; its owner is notified."""
    row = await moderation.take_down(
        db, image_id, reason=body.reason, reference=body.reference, admin_id=admin.user_id
    )
    await db.commit()
    return TakedownOut.of(row)


@router.post("/v1/admin/images/{image_id}/reinstate", response_model=TakedownOut)
async def reinstate(image_id: str, admin: SiteAdmin, db: Db) -> TakedownOut:
    """Lift the takedown and its legal hold; the owner is notified."""
    row = await moderation.reinstate(db, image_id, admin_id=admin.user_id)
    await db.commit()
    return TakedownOut.of(row)


@router.get("/v1/admin/takedowns", response_model=TakedownList)
async def list_takedowns(
    admin: SiteAdmin,
    db: Db,
    image_id: Annotated[str | None, Query(alias="imageId", max_length=64)] = None,
    active: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TakedownList:
    """Takedowns newest first, with the owners' counter-notices."""
    del admin
    rows = await moderation.list_takedowns(db, image_id=image_id, active=active, limit=limit)
    return TakedownList(takedowns=[TakedownOut.of(row) for row in rows])
