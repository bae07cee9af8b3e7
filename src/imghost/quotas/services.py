"""Storage quotas: reserving, charging and releasing bytes, atomically.

The public face of ``quotas`` for other features: an account's plan and its
rows as a whole are here; the rest lives in one module per idea and is
re-exported below:

- ``ledger``: an account's ``storage_usage`` row, the quota test, the 413.
- ``reservations``: the bytes uploads in progress hold, and releasing them.
- ``charges``: the stored bytes (originals, derivatives) usage counts.
- ``bandwidth``: the monthly bandwidth budgets, fed by the analytics flush.

Every change to an account's numbers is one UPDATE of its ``storage_usage``
row; the ones that may be refused carry the quota test in their WHERE clause
(``originals + derivatives + reserved + n <= quota``). PostgreSQL re-checks
that condition on the newest row version after waiting for a concurrent
writer of the row, and SQLite runs one writer at a time, so two uploads
racing for the last bytes cannot both get them.

- An upload *reserves* its declared size when it starts (direct: each file
  once received, before it is validated or stored; presigned: at
  ``POST /v1/uploads``; tus: at creation with ``Upload-Length``).
- When it becomes an image the reservation is *converted* into the image's
  actual size in the transaction that adds the image row; any part not
  covered by the reservation (a deferred tus length, or an image that lands
  in an org's pooled quota instead of its uploader's) is tested again.
- A reservation whose upload fails, ends or expires is *released* (at once
  where the request knows, else by gc).
- Derivatives the processing job makes (pre-generated presets, the GPS-free
  copy) are counted when written and never refused: they may push an account
  slightly over its quota. Renditions made only on request (transforms, AVIF
  presets) are not counted at all: viewers cause them, so they live in the
  service's bounded rendition cache (``imghost.processing.rendition_cache``).
- Soft-deleted images keep counting until they are purged
  (:func:`imghost.quotas.usage.image_purged`).
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.errors import AppError
from imghost.orgs import services as orgs
from imghost.quotas import bandwidth, warnings
from imghost.quotas.bandwidth import (
    Bandwidth,
    bandwidth_of,
    count_served,
    month_of,
    over_budget,
    resets_at,
)
from imghost.quotas.charges import (
    DERIVATIVE,
    ORIGINAL,
    charge_image,
    derivatives_written,
    free_image,
)
from imghost.quotas.ledger import (
    CountedImage,
    Usage,
    account_of,
    ensure_row,
    quota_exceeded,
    usage_of,
)
from imghost.quotas.models import BandwidthUsage, QuotaBlob, QuotaReservation, StorageUsage
from imghost.quotas.plans import PLANS, kind_of
from imghost.quotas.reservations import (
    DIRECT_RESERVATION_TTL,
    cover_image,
    release,
    release_stale,
    reserve,
    reserve_upload,
    topup_id,
    upload_account,
    upload_reservations,
)
from imghost.quotas.stats import NearQuota, Totals, nearest_quota, totals
from imghost.settings import Settings

__all__ = [
    "DERIVATIVE",
    "DIRECT_RESERVATION_TTL",
    "ORIGINAL",
    "Bandwidth",
    "CountedImage",
    "NearQuota",
    "Totals",
    "Usage",
    "account_of",
    "bandwidth_of",
    "charge_image",
    "count_served",
    "cover_image",
    "derivatives_written",
    "forget_account",
    "free_image",
    "month_of",
    "nearest_quota",
    "over_budget",
    "quota_exceeded",
    "release",
    "release_stale",
    "reserve",
    "reserve_upload",
    "resets_at",
    "set_plan",
    "set_quota_override",
    "topup_id",
    "totals",
    "upload_account",
    "upload_reservations",
    "usage_of",
]


async def set_plan(session: AsyncSession, settings: Settings, account_id: str, plan: str) -> Usage:
    """Change a user's or org's plan (flushed, not committed); the new quota
    applies to the next upload. Warnings are re-evaluated against it."""
    if plan not in PLANS:
        raise AppError(422, "invalid_plan", f"plan must be one of {', '.join(PLANS)}.")
    if kind_of(account_id) == "org":
        changed = await orgs.set_plan(session, account_id, plan)
    else:
        changed = await accounts.set_plan(session, account_id, plan)
    if not changed:
        raise AppError(404, "not_found", f"No user or org with id {account_id!r}.")
    await ensure_row(session, account_id)
    await warnings.check(session, settings, account_id)
    await bandwidth.recheck(session, settings, account_id)
    return await usage_of(session, settings, account_id)


async def set_quota_override(
    session: AsyncSession, settings: Settings, account_id: str, quota_bytes: int | None
) -> Usage:
    """Give the account its own quota in place of its plan's (None: the plan's
    again); flushed. Like a plan change it applies to the next upload, and
    warnings are re-evaluated against it. 404 for an unknown account."""
    plan_of = orgs.plan_of if kind_of(account_id) == "org" else accounts.plan_of
    if await plan_of(session, account_id) is None:
        raise AppError(404, "not_found", f"No user or org with id {account_id!r}.")
    await ensure_row(session, account_id)
    await session.execute(
        update(StorageUsage)
        .where(StorageUsage.account_id == account_id)
        .values(quota_override_bytes=quota_bytes)
        .execution_options(synchronize_session=False)
    )
    await warnings.check(session, settings, account_id)
    return await usage_of(session, settings, account_id)


async def forget_account(session: AsyncSession, account_id: str) -> None:
    """A deleted account's usage rows go: its usage, reservations, any counted
    blob left (its images were purged first, which freed theirs) and its
    monthly bandwidth counters. Flushed."""
    for model in (QuotaBlob, QuotaReservation, StorageUsage, BandwidthUsage):
        await session.execute(
            delete(model)
            .where(model.account_id == account_id)
            .execution_options(synchronize_session=False)
        )
    await session.flush()
