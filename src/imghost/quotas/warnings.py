"""Quota warnings: a notification when usage crosses a threshold upward.

Each account keeps the highest threshold already announced
(``warned_percent``): a threshold fires once per crossing and is re-armed
when usage falls below it again. Purge lowers usage without knowing the
quota (its contract has no settings), so it only records the low-water mark;
the next evaluation (an upload, a derivative, a plan change, a usage read)
re-arms every threshold that mark went below.

Usage here is what is stored (originals + derivatives), not reservations.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.notifications import services as notifications
from imghost.orgs import services as orgs
from imghost.quotas.models import StorageUsage
from imghost.quotas.plans import quota_of
from imghost.settings import Settings
from imghost.units import human_bytes


def level(levels: tuple[int, ...], used: int, quota: int) -> int:
    """The highest threshold (percent) ``used`` has reached; 0 for none."""
    return max((p for p in levels if used * 100 >= p * quota), default=0)


def next_state(
    levels: tuple[int, ...], warned: int, low_water: int | None, used: int, quota: int
) -> tuple[int, int | None]:
    """(new warned_percent, threshold to announce or None).

    Thresholds at or below ``warned`` stay announced unless usage went below
    them since (``low_water``); a higher reached threshold is announced once.
    """
    floor = used if low_water is None else min(low_water, used)
    still = max((p for p in levels if p <= warned and floor * 100 >= p * quota), default=0)
    reached = level(levels, used, quota)
    if reached > still:
        return reached, reached
    return still, None


async def check(session: AsyncSession, settings: Settings, account_id: str) -> None:
    """Evaluate the account's thresholds now and notify on an upward crossing
    (in the caller's transaction)."""

    row = await session.scalar(
        select(StorageUsage)
        .where(StorageUsage.account_id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        return
    quota = await quota_of(session, settings, account_id)
    used = row.originals_bytes + row.derivatives_bytes
    warned, announce = next_state(
        settings.quota_warning_levels, row.warned_percent, row.low_water_bytes, used, quota
    )
    if warned == row.warned_percent and row.low_water_bytes is None:
        return
    await session.execute(
        update(StorageUsage)
        .where(StorageUsage.account_id == account_id)
        .values(warned_percent=warned, low_water_bytes=None)
        .execution_options(synchronize_session=False)
    )
    if announce is None:
        return
    org = account_id.startswith("org_")
    percent = round(used * 100 / quota, 1) if quota else 100.0
    whose = "The organization's" if org else "Your"
    await tell(
        session,
        account_id,
        kind="quota.warning",
        title=f"{whose} storage is {announce}% full",
        body=(
            f"{whose} images use {human_bytes(used)} of a {human_bytes(quota)} storage "
            f"quota ({percent}%). Uploads that do not fit will be refused; delete some "
            "images or ask for a larger plan."
        ),
        data={
            "threshold": announce,
            "percentUsed": percent,
            "storageBytes": used,
            "quotaBytes": quota,
        },
    )


async def tell(
    session: AsyncSession,
    account_id: str,
    *,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any],
) -> None:
    """Notify whoever answers for the account: the user, or an org's owners and
    admins (in the caller's transaction). ``data`` gets the account's id and kind."""
    org = account_id.startswith("org_")
    recipients = await orgs.managers(session, account_id) if org else [account_id]
    data = {"accountId": account_id, "accountKind": "org" if org else "user", **data}
    for user_id in sorted(recipients):
        await notifications.notify(
            session, user_id=user_id, kind=kind, title=title, body=body, data=data
        )


async def fell(session: AsyncSession, account_id: str) -> None:
    """Usage just went down: remember how low, for re-arming (flushed)."""
    used = StorageUsage.originals_bytes + StorageUsage.derivatives_bytes
    await session.execute(
        update(StorageUsage)
        .where(StorageUsage.account_id == account_id, StorageUsage.warned_percent > 0)
        .values(
            low_water_bytes=case(
                (StorageUsage.low_water_bytes.is_(None), used),
                (used < StorageUsage.low_water_bytes, used),
                else_=StorageUsage.low_water_bytes,
            ),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
