"""Usage reports: GET /v1/users/me/usage and GET /v1/orgs/{id}/usage."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.analytics import services as analytics
from imghost.db import utcnow
from imghost.deps import Ctx, CurrentActor, Db, ReadDb
from imghost.orgs import services as orgs
from imghost.quotas import services
from imghost.quotas.schemas import MonthlyBandwidthOut, UsageOut
from imghost.settings import Settings

router = APIRouter(tags=["quotas"])

BANDWIDTH_DAYS = 30


def _since() -> dt.date:
    return utcnow().date() - dt.timedelta(days=BANDWIDTH_DAYS - 1)


async def usage_out(
    session: AsyncSession, settings: Settings, account_id: str, bandwidth: int
) -> UsageOut:
    usage = await services.usage_of(session, settings, account_id)
    month = await services.bandwidth_of(session, settings, account_id)
    return UsageOut(
        account_id=account_id,
        account_kind=usage.kind,
        plan=usage.plan,
        storage_bytes=usage.storage_bytes,
        originals_bytes=usage.originals_bytes,
        derivatives_bytes=usage.derivatives_bytes,
        reserved_bytes=usage.reserved_bytes,
        quota_bytes=usage.quota_bytes,
        percent_used=round(usage.storage_bytes * 100 / usage.quota_bytes, 1),
        images=usage.images,
        bandwidth_bytes30d=bandwidth,
        bandwidth=MonthlyBandwidthOut(
            month=month.month.strftime("%Y-%m"),
            used_bytes=month.used_bytes,
            limit_bytes=month.budget_bytes or None,
            percent_used=month.percent_used,
            exceeded=month.exceeded,
            resets_at=month.resets_at,
        ),
    )


@router.get("/v1/users/me/usage", response_model=UsageOut)
async def my_usage(actor: CurrentActor, read: ReadDb, ctx: Ctx) -> UsageOut:
    """Your storage (images that are not in an org), quota and bandwidth.

    `bandwidthBytes30d` counts every image you uploaded, org images included;
    the monthly budget (`bandwidth`) counts the images outside orgs, like storage."""
    bandwidth = await analytics.owner_bandwidth(read, actor.user_id, _since())
    return await usage_out(read, ctx.settings, actor.user_id, bandwidth)


@router.get("/v1/orgs/{org_id}/usage", response_model=UsageOut)
async def org_usage(org_id: str, actor: CurrentActor, db: Db, read: ReadDb, ctx: Ctx) -> UsageOut:
    """The org's pooled storage, quota and bandwidth (its members; 404 for others)."""
    access = await orgs.get_access(db, actor, org_id)
    bandwidth = await analytics.org_bandwidth(read, access.org.id, _since())
    return await usage_out(read, ctx.settings, access.org.id, bandwidth)
