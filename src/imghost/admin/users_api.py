"""Admin routes for users: find them, see their usage, change their plan or quota."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from imghost.accounts import services as accounts
from imghost.admin.schemas import AdminUserList, AdminUserOut, AdminUserPatch, UsageOut
from imghost.audit import services as audit
from imghost.deps import Ctx, Db, SiteAdmin
from imghost.quotas import services as quotas

router = APIRouter(tags=["admin"])


async def _out(db: Db, ctx: Ctx, user: accounts.User) -> AdminUserOut:
    usage = await quotas.usage_of(db, ctx.settings, user.id)
    return AdminUserOut(
        user_id=user.id,
        username=user.username,
        email=user.email,
        plan=usage.plan,
        is_admin=user.is_admin,
        email_verified=user.email_verified_at is not None,
        created_at=user.created_at,
        deleted_at=user.deleted_at,
        usage=UsageOut(
            storage_bytes=usage.storage_bytes,
            reserved_bytes=usage.reserved_bytes,
            quota_bytes=usage.quota_bytes,
            quota_override_bytes=usage.quota_override_bytes,
            images=usage.images,
        ),
    )


@router.get("/v1/admin/users", response_model=AdminUserList)
async def search_users(
    admin: SiteAdmin,
    db: Db,
    ctx: Ctx,
    q: Annotated[
        str,
        Query(min_length=1, max_length=254, description="id, or the start of a username or e-mail"),
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> AdminUserList:
    """Users by exact id, or by the start of their username or e-mail (any case)."""
    found = await accounts.search_users(db, q, limit)
    return AdminUserList(users=[await _out(db, ctx, user) for user in found])


@router.get("/v1/admin/users/{user_id}", response_model=AdminUserOut)
async def get_user(user_id: str, admin: SiteAdmin, db: Db, ctx: Ctx) -> AdminUserOut:
    """One user, with their usage and plan."""
    return await _out(db, ctx, await accounts.get_user(db, user_id))


@router.patch("/v1/admin/users/{user_id}", response_model=AdminUserOut)
async def update_user(
    user_id: str, body: AdminUserPatch, admin: SiteAdmin, db: Db, ctx: Ctx
) -> AdminUserOut:
    """Change a user's plan, or give them a quota of their own (``null``: the plan's)."""
    user = await accounts.get_user(db, user_id)
    changes: dict[str, object] = {}
    if body.plan is not None:
        await quotas.set_plan(db, ctx.settings, user.id, body.plan)
        changes["plan"] = body.plan
    if "quota_override_bytes" in body.model_fields_set:
        await quotas.set_quota_override(db, ctx.settings, user.id, body.quota_override_bytes)
        changes["quotaOverrideBytes"] = body.quota_override_bytes
    if changes:
        await audit.record(
            db,
            "admin.user_updated",
            actor_id=admin.user_id,
            actor_kind="admin",
            target=("user", user.id),
            details=changes,
        )
    await db.commit()
    return await _out(db, ctx, await accounts.get_user(db, user_id))
