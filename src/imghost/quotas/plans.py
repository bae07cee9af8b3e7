"""Plans and the quota each gives an account (a user, or an org's pooled quota).

Apart from ``services`` so that threshold warnings (``warnings``), which
services call, can name an account's quota without importing services back.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.orgs import services as orgs
from imghost.quotas.models import StorageUsage
from imghost.settings import Settings

PLANS = ("free", "premium")

Kind = Literal["user", "org"]


def kind_of(account_id: str) -> Kind:
    return "org" if account_id.startswith("org_") else "user"


def plan_quota(settings: Settings, plan: str) -> int:
    if plan == "premium":
        return settings.quota_premium
    return settings.quota_free


async def plan_of(session: AsyncSession, account_id: str) -> str:
    if kind_of(account_id) == "org":
        plan = await orgs.plan_of(session, account_id)
    else:
        plan = await accounts.plan_of(session, account_id)
    return plan or "free"


async def quota_of(session: AsyncSession, settings: Settings, account_id: str) -> int:
    """The account's quota: an administrator's override, else its plan's."""
    override = await session.scalar(
        select(StorageUsage.quota_override_bytes).where(StorageUsage.account_id == account_id)
    )
    if override is not None:
        return int(override)
    return plan_quota(settings, await plan_of(session, account_id))
