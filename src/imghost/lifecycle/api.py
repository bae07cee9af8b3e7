"""Routes of the delete lifecycle: delete (to the trash, or for good), the
trash, restore."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Response

from imghost.access.grants import Caller
from imghost.audit import services as audit
from imghost.db import utcnow
from imghost.deps import Ctx, CurrentActor, Db, ReadDb, Reads
from imghost.errors import NotFound
from imghost.images.schemas import ImageDeleted, ImageOut
from imghost.lifecycle import purge, services
from imghost.lifecycle.models import PurgedImage
from imghost.lifecycle.schemas import TrashItem, TrashList

log = logging.getLogger(__name__)

router = APIRouter()


@router.delete(
    "/v1/images/{image_id}",
    response_model=ImageDeleted,
    tags=["images"],
    responses={202: {"description": "Purge begun; the worker finishes it", "model": ImageDeleted}},
)
async def delete_image(
    image_id: str,
    response: Response,
    actor: CurrentActor,
    db: Db,
    reads: Reads,
    ctx: Ctx,
    permanent: Annotated[bool, Query()] = False,
) -> ImageDeleted:
    """Move the image to the trash (404 everywhere at once; restorable until
    `purgeAt`), or with `permanent=true` purge it now, from the trash or not:
    every byte and row goes. Repeating either is harmless."""
    caller = Caller(actor.user_id, actor.is_admin)
    retention = ctx.settings.trash_retention
    if permanent and (gone := await services.purged_for(db, caller, image_id)) is not None:
        return _purged(gone)
    now = utcnow()
    image, entry = await services.find_for_owner(db, reads, caller, image_id, retention)
    try:
        if entry is None:
            entry = await services.trash_image(db, image, retention, now)
        result = ImageDeleted(
            image_id=image.id, deleted_at=entry.deleted_at, purge_at=entry.purge_at
        )
        if permanent:
            await services.begin_purge(db, image.id, now)
        if actor.is_admin and image.owner_id != actor.user_id:
            # A site admin removing someone else's image is an admin action.
            await audit.record(
                db,
                "admin.image_deleted",
                actor_id=actor.user_id,
                actor_kind="admin",
                target=("image", image.id),
                details={"ownerId": image.owner_id, "permanent": permanent},
            )
        await db.commit()
    except NotFound:
        # Purged by a request at the same moment (SQLite has no row locks).
        await db.rollback()
        if permanent and (gone := await services.purged_for(db, caller, image_id)) is not None:
            return _purged(gone)
        raise
    if not permanent:
        return result
    try:
        result.purged = await purge.purge_image(ctx.purging, image.id)
    except Exception:
        # Marked and committed: the worker's purge sweep finishes it.
        log.warning("purge of %s did not finish; the sweep will", image.id, exc_info=True)
    if not result.purged:
        response.status_code = 202
    return result


def _purged(gone: PurgedImage) -> ImageDeleted:
    return ImageDeleted(
        image_id=gone.image_id,
        deleted_at=gone.deleted_at or gone.purged_at,
        purge_at=gone.purged_at,
        purged=True,
    )


@router.get("/v1/trash", response_model=TrashList, tags=["trash"])
async def list_trash(
    actor: CurrentActor,
    read: ReadDb,
    ctx: Ctx,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TrashList:
    """Your deleted images (and those of orgs you own or administer), most
    recently deleted first, with when each is purged."""
    caller = Caller(actor.user_id, actor.is_admin)
    rows, total = await services.list_trash(read, caller, page, limit)
    now = utcnow()
    base = ctx.settings.public_base_url
    return TrashList(
        images=[TrashItem.of_entry(image, entry, base, now) for image, entry in rows],
        page=page,
        limit=limit,
        total=total,
        retention_seconds=ctx.settings.trash_retention,
    )


@router.post("/v1/images/{image_id}/restore", response_model=ImageOut, tags=["trash"])
async def restore_image(
    image_id: str, actor: CurrentActor, db: Db, reads: Reads, ctx: Ctx
) -> ImageOut:
    """Bring a deleted image back as it was, within its window (410 after)."""
    caller = Caller(actor.user_id, actor.is_admin)
    settings = ctx.settings
    image, entry = await services.find_for_owner(
        db, reads, caller, image_id, settings.trash_retention
    )
    if entry is not None:
        await services.restore(db, image, entry, max_attempts=settings.job_max_attempts)
        await db.commit()
        await db.refresh(image)
    return ImageOut.of(image, settings.public_base_url)
