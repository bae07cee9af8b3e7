"""Routes of account deletion: schedule it (with the password), read it, cancel it."""

from __future__ import annotations

from fastapi import APIRouter, status

from imghost.accounts import deletion
from imghost.accounts.models import User
from imghost.accounts.schemas import DeletionIn, DeletionOut
from imghost.deps import Ctx, CurrentActor, Db

router = APIRouter(tags=["accounts"])


def deletion_out(user: User) -> DeletionOut:
    if user.delete_after is None:
        return DeletionOut(status="none")
    return DeletionOut(
        status="scheduled",
        requested_at=user.deletion_requested_at,
        delete_after=user.delete_after,
    )


@router.post(
    "/v1/users/me/deletion", response_model=DeletionOut, status_code=status.HTTP_202_ACCEPTED
)
async def request_deletion(body: DeletionIn, actor: CurrentActor, ctx: Ctx, db: Db) -> DeletionOut:
    """Schedule the deletion of the caller's account after the grace period
    (IMGHOST_ACCOUNT_DELETION_GRACE); ends every session and API key now."""
    user = await deletion.request_deletion(
        db, actor.user, body.password, ctx.settings.account_deletion_grace
    )
    out = deletion_out(user)
    await db.commit()
    return out


@router.get("/v1/users/me/deletion", response_model=DeletionOut)
async def read_deletion(actor: CurrentActor) -> DeletionOut:
    return deletion_out(actor.user)


@router.delete("/v1/users/me/deletion", response_model=DeletionOut)
async def cancel_deletion(actor: CurrentActor, db: Db) -> DeletionOut:
    user = await deletion.cancel_deletion(db, actor.user)
    out = deletion_out(user)
    await db.commit()
    return out
