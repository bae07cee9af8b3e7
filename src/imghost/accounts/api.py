"""Routes for the caller's own account."""

from __future__ import annotations

from fastapi import APIRouter, Query

from imghost.accounts import services
from imghost.accounts.models import User
from imghost.accounts.schemas import UserLookupOut, UserOut, UserPatch
from imghost.deps import Ctx, CurrentActor, Db

router = APIRouter(tags=["accounts"])


def user_out(user: User) -> UserOut:
    return UserOut(
        user_id=user.id,
        username=user.username,
        email=user.email,
        display_name=user.display_name,
        default_visibility=user.default_visibility,
        keep_gps=user.keep_gps,
        email_verified=user.email_verified_at is not None,
        email_verified_at=user.email_verified_at,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


@router.get("/v1/users/me", response_model=UserOut)
async def me(actor: CurrentActor) -> UserOut:
    return user_out(actor.user)


@router.patch("/v1/users/me", response_model=UserOut)
async def patch_me(body: UserPatch, actor: CurrentActor, db: Db) -> UserOut:
    user = await services.update_user(db, actor.user, body)
    await db.commit()
    await db.refresh(user)
    return user_out(user)


@router.get("/v1/users/lookup", response_model=UserLookupOut)
async def lookup(
    actor: CurrentActor,
    db: Db,
    ctx: Ctx,
    q: str = Query(min_length=1, max_length=254, description="An exact username or e-mail."),
) -> UserLookupOut:
    """Find the person to share with by their exact username or e-mail address.

    Exact matches only (no prefix search), one 404 for every miss, the answer
    never carries an e-mail address, and each signed-in user has a small
    budget of lookups (`IMGHOST_USER_LOOKUP_RATE_LIMIT`, 429 `rate_limited`).
    """
    await ctx.logins.lookup(actor.user_id)  # counted before the database is asked
    user = await services.lookup(db, q)
    return UserLookupOut(user_id=user.id, username=user.username)
