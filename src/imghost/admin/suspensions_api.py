"""Admin routes of suspensions: suspend and unsuspend a user."""

from __future__ import annotations

from fastapi import APIRouter

from imghost.deps import Db, SiteAdmin
from imghost.moderation import services as moderation
from imghost.moderation.schemas import SuspendIn, SuspensionOut

router = APIRouter(tags=["admin"])


def _out(done: moderation.Suspension) -> SuspensionOut:
    return SuspensionOut(
        user_id=done.user_id,
        username=done.username,
        suspended=done.suspended_at is not None,
        suspended_at=done.suspended_at,
        reason=done.reason,
        images_changed=done.images_changed,
    )


@router.post("/v1/admin/users/{user_id}/suspend", response_model=SuspensionOut)
async def suspend(user_id: str, body: SuspendIn, admin: SiteAdmin, db: Db) -> SuspensionOut:
    """No sign-in, no token or API key works, every image of the user answers
    451 (``reason: suspended``) to others and leaves listings; they are told."""
    done = await moderation.suspend(db, user_id, reason=body.reason, admin_id=admin.user_id)
    await db.commit()
    return _out(done)


@router.post("/v1/admin/users/{user_id}/unsuspend", response_model=SuspensionOut)
async def unsuspend(user_id: str, admin: SiteAdmin, db: Db) -> SuspensionOut:
    """Everything the suspension stopped works again."""
    done = await moderation.unsuspend(db, user_id, admin_id=admin.user_id)
    await db.commit()
    return _out(done)
