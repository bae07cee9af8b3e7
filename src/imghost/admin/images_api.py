"""`/v1/admin/images`: any image by id, owner or hash, with its scan, reports and history.

Site admins only; deleted and quarantined images included.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from imghost import cursors
from imghost.accounts import services as accounts
from imghost.admin.image_detail import (
    AdminImageList,
    AdminImageOut,
    AdminImageSummary,
    OwnerOut,
    ScanOut,
    history,
)
from imghost.audit import services as audit
from imghost.deps import Ctx, Db, SiteAdmin
from imghost.errors import AppError, NotFound
from imghost.images import services as images
from imghost.images.schemas import ImageOut
from imghost.reports import services as reports
from imghost.reports.schemas import report_out

router = APIRouter(tags=["admin"])

# Reports (and so report events) shown on one image's page, newest first.
REPORTS_SHOWN = 100


@router.get("/v1/admin/images", response_model=AdminImageList)
async def find_images(
    actor: SiteAdmin,
    db: Db,
    image_id: Annotated[str | None, Query(alias="id", max_length=64)] = None,
    owner: Annotated[
        str | None, Query(max_length=254, description="id, username or e-mail")
    ] = None,
    sha256: Annotated[str | None, Query(pattern="^[0-9a-fA-F]{64}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> AdminImageList:
    """Images matching every filter given (at least one), newest first; the
    hash matches the original's or its GPS-free copy's SHA-256."""
    if image_id is None and owner is None and sha256 is None:
        raise AppError(422, "validation_error", "Give at least one of id, owner or sha256.")
    owner_id = (await accounts.find_user(db, owner)).id if owner is not None else None
    found = await images.find_images(
        db,
        image_id=image_id,
        owner_id=owner_id,
        sha256=sha256.lower() if sha256 else None,
        limit=limit + 1,
        before=cursors.decode(cursor) if cursor else None,
    )
    page = found[:limit]
    counts = await reports.active_counts(db, [i.id for i in page])
    following = None
    if len(found) > limit:
        following = cursors.encode(page[-1].created_at, page[-1].id)
    return AdminImageList(
        images=[
            AdminImageSummary(
                image_id=i.id,
                owner_id=i.owner_id,
                title=i.title,
                status=i.status,
                visibility=i.visibility,
                scan_status=i.scan_status,
                sha256=i.sha256,
                size=i.size,
                format=i.format,
                created_at=i.created_at,
                deleted_at=i.deleted_at,
                active_reports=counts.get(i.id, 0),
            )
            for i in page
        ],
        next_cursor=following,
    )


@router.get("/v1/admin/images/{image_id}", response_model=AdminImageOut)
async def admin_image(image_id: str, actor: SiteAdmin, db: Db, ctx: Ctx) -> AdminImageOut:
    image = await images.get_image(db, image_id) if len(image_id) <= 64 else None
    if image is None:
        raise NotFound("No such image.")
    owner = await accounts.get_user(db, image.owner_id)
    shown = [report_out(r) for r in await reports.image_reports(db, image.id, REPORTS_SHOWN)]
    base = ImageOut.of(image, ctx.settings.public_base_url, owner_view=True)
    return AdminImageOut(
        **base.model_dump(),
        deleted_at=image.deleted_at,
        sha256=image.sha256,
        filename=image.filename,
        scan=ScanOut(
            status=image.scan_status,
            reason=image.scan_reason,
            signature=image.malware_signature,
            hash_list=image.hash_match,
            pdq=image.pdq,
            pdq_quality=image.pdq_quality,
        ),
        owner=OwnerOut(
            user_id=owner.id,
            username=owner.username,
            email=owner.email,
            plan=owner.plan,
            is_admin=owner.is_admin,
            deleted_at=owner.deleted_at,
        ),
        reports=shown,
        history=history(
            owner_id=image.owner_id,
            created_at=image.created_at,
            deleted_at=image.deleted_at,
            reports=shown,
            audited=await audit.history(db, ("image", image.id)),
        ),
    )
