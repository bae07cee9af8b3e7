"""Storage as operators see it: totals over every account, and the users
nearest their quota (``imghost admin status``, ``GET /v1/admin/status``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts.models import User
from imghost.quotas.models import StorageUsage
from imghost.settings import Settings


@dataclass(frozen=True)
class Totals:
    accounts: int
    images: int
    originals_bytes: int
    derivatives_bytes: int
    reserved_bytes: int


@dataclass(frozen=True)
class NearQuota:
    user_id: str
    username: str
    plan: str
    used_bytes: int
    quota_bytes: int

    @property
    def percent(self) -> float:
        return 100.0 * self.used_bytes / self.quota_bytes if self.quota_bytes else 100.0


async def totals(session: AsyncSession) -> Totals:
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(StorageUsage.images), 0),
                func.coalesce(func.sum(StorageUsage.originals_bytes), 0),
                func.coalesce(func.sum(StorageUsage.derivatives_bytes), 0),
                func.coalesce(func.sum(StorageUsage.reserved_bytes), 0),
            )
        )
    ).one()
    return Totals(*(int(value) for value in row))


async def nearest_quota(session: AsyncSession, settings: Settings, limit: int) -> list[NearQuota]:
    """The ``limit`` users using the largest share of their quota (override or
    plan), in one query: the ranking needs each user's plan beside their usage."""
    quota = func.coalesce(
        StorageUsage.quota_override_bytes,
        case(
            (User.plan == "premium", literal(settings.quota_premium)),
            else_=literal(settings.quota_free),
        ),
    )
    used = StorageUsage.originals_bytes + StorageUsage.derivatives_bytes
    # Compared as floats: used * 1.0 / quota (a zero quota ranks first).
    share = case((quota > 0, used * 1.0 / quota), else_=literal(1e18))
    rows = await session.execute(
        select(User.id, User.username, User.plan, used, quota)
        .join(User, User.id == StorageUsage.account_id)
        .where(StorageUsage.kind == "user", used > 0)
        .order_by(share.desc(), User.id)
        .limit(limit)
    )
    return [NearQuota(u, name, plan, int(b), int(q)) for u, name, plan, b, q in rows.all()]
