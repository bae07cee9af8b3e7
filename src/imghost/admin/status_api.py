"""The admin route for the service's health: queue, images, storage, quotas."""

from __future__ import annotations

from fastapi import APIRouter

from imghost.admin import status
from imghost.admin.schemas import (
    AdminStatusOut,
    ImagesOut,
    NearQuotaOut,
    QueueOldest,
    StorageOut,
)
from imghost.deps import Ctx, Db, SiteAdmin

router = APIRouter(tags=["admin"])


def status_out(found: status.Status) -> AdminStatusOut:
    """The status as the API answers it (and ``imghost admin status --json`` prints it)."""
    oldest = found.oldest_due
    return AdminStatusOut(
        generated_at=found.generated_at,
        queue=found.queue,
        oldest_due=(
            QueueOldest(
                kind=oldest.kind, due_at=oldest.due_at, waiting_seconds=oldest.waiting_seconds
            )
            if oldest
            else None
        ),
        dead_jobs=found.dead_jobs,
        dead_jobs_last_day=found.dead_jobs_last_day,
        images=ImagesOut(
            by_status=found.images.by_status,
            deleted=found.images.deleted,
            scan_refused=found.images.scan_refused,
        ),
        storage=StorageOut(
            accounts=found.storage.accounts,
            images=found.storage.images,
            originals_bytes=found.storage.originals_bytes,
            derivatives_bytes=found.storage.derivatives_bytes,
            reserved_bytes=found.storage.reserved_bytes,
        ),
        nearest_quota=[
            NearQuotaOut(
                user_id=n.user_id,
                username=n.username,
                plan=n.plan,
                used_bytes=n.used_bytes,
                quota_bytes=n.quota_bytes,
                percent=round(n.percent, 1),
            )
            for n in found.nearest_quota
        ],
    )


@router.get("/v1/admin/status", response_model=AdminStatusOut)
async def admin_status(admin: SiteAdmin, db: Db, ctx: Ctx) -> AdminStatusOut:
    """Queue depth by kind, the job waiting longest, dead jobs, images by state and
    scan refusals, storage totals, and the users nearest their quota."""
    return status_out(await status.gather(db, ctx.settings))
