"""Writing counted batches and reading them back. Takes a session; never commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, column, func, select, table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.analytics.counter import Batch, ImageCounts, day_of
from imghost.analytics.models import ImageStatsDaily, OwnerBandwidthDaily
from imghost.quotas import services as quotas
from imghost.settings import QuotaSettings

_STATS = cast(Table, ImageStatsDaily.__table__)
_BANDWIDTH = cast(Table, OwnerBandwidthDaily.__table__)
# Only the columns we touch, so this package does not import another feature's models.
_IMAGES = table("images", column("id"), column("view_count"), column("org_id"), column("owner_id"))
_USERS = table("users", column("id"))

# Well under every backend's limit on bound parameters per statement.
_CHUNK = 500


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


async def _existing(session: AsyncSession, target: Any, ids: set[str]) -> set[str]:
    found: set[str] = set()
    for part in _chunks(sorted(ids)):
        rows = await session.execute(select(target.c.id).where(target.c.id.in_(part)))
        found.update(rows.scalars())
    return found


def _insert(session: AsyncSession, target: Table) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(target)
    if dialect == "sqlite":
        return sqlite.insert(target)
    raise NotImplementedError(f"no upsert for {dialect}")


async def _accounts(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    """The live images among ``ids``, each with the account its bytes count
    against (its org's, else its uploader's: ``quotas.services.account_of``)."""
    found: dict[str, str] = {}
    for part in _chunks(sorted(ids)):
        rows = await session.execute(
            select(_IMAGES.c.id, _IMAGES.c.owner_id, _IMAGES.c.org_id).where(_IMAGES.c.id.in_(part))
        )
        found.update((i, quotas.account_of(owner, org)) for i, owner, org in rows)
    return found


async def write_counts(
    session: AsyncSession, batch: Batch, budgets: QuotaSettings | None = None
) -> None:
    """Add a batch to the daily tables, to ``images.view_count`` and to the
    accounts' monthly bandwidth counters (``budgets``: the plans' budgets, to
    announce the thresholds crossed; None counts without announcing).

    Counts of images or owners deleted since they were served are dropped (their
    rows would violate the foreign keys and fail the whole batch forever).
    Rows are written in key order so concurrent flushers of several processes
    lock them in the same order and cannot deadlock each other.
    """
    accounts = await _accounts(session, {image_id for image_id, _ in batch.images})
    images = set(accounts)
    owners = await _existing(session, _USERS, {owner_id for owner_id, _ in batch.owners})
    stats_rows = [
        {
            "image_id": image_id,
            "day": day_of(day),
            "views": counts.views,
            "downloads": counts.downloads,
            "bandwidth_bytes": counts.bandwidth_bytes,
        }
        for (image_id, day), counts in sorted(batch.images.items())
        if image_id in images
    ]
    if stats_rows:
        stmt = _insert(session, _STATS)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[_STATS.c.image_id, _STATS.c.day],
                set_={
                    "views": _STATS.c.views + stmt.excluded.views,
                    "downloads": _STATS.c.downloads + stmt.excluded.downloads,
                    "bandwidth_bytes": _STATS.c.bandwidth_bytes + stmt.excluded.bandwidth_bytes,
                },
            ),
            stats_rows,
        )
    owner_rows = [
        {"owner_id": owner_id, "day": day_of(day), "bandwidth_bytes": nbytes}
        for (owner_id, day), nbytes in sorted(batch.owners.items())
        if owner_id in owners
    ]
    if owner_rows:
        stmt = _insert(session, _BANDWIDTH)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[_BANDWIDTH.c.owner_id, _BANDWIDTH.c.day],
                set_={
                    "bandwidth_bytes": _BANDWIDTH.c.bandwidth_bytes + stmt.excluded.bandwidth_bytes
                },
            ),
            owner_rows,
        )
    await quotas.count_served(session, budgets, _served_per_account(batch, accounts))
    served = _served_per_image(batch.images.items(), images)
    if served:
        # Core, not the ORM: no updated_at bump, no search-index hook, one executemany.
        await session.execute(
            update(_IMAGES)
            .where(_IMAGES.c.id == bindparam("image"))
            .values(view_count=_IMAGES.c.view_count + bindparam("served")),
            [{"image": image_id, "served": n} for image_id, n in sorted(served.items())],
        )


def _served_per_account(batch: Batch, accounts: dict[str, str]) -> dict[tuple[str, dt.date], int]:
    """Bytes served per (account, UTC day), of the images still there."""
    served: dict[tuple[str, dt.date], int] = {}
    for (image_id, day), counts in batch.images.items():
        account = accounts.get(image_id)
        if account is not None and counts.bandwidth_bytes:
            key = (account, day_of(day))
            served[key] = served.get(key, 0) + counts.bandwidth_bytes
    return served


def _served_per_image(
    items: Iterable[tuple[tuple[str, int], ImageCounts]], live: set[str]
) -> dict[str, int]:
    """``view_count`` (the most-viewed order) counts every view and download."""
    served: dict[str, int] = {}
    for (image_id, _), counts in items:
        n = counts.views + counts.downloads
        if n and image_id in live:
            served[image_id] = served.get(image_id, 0) + n
    return served


@dataclass(frozen=True)
class DayStats:
    day: dt.date
    views: int
    downloads: int
    bandwidth_bytes: int


@dataclass(frozen=True)
class ImageStats:
    image_id: str
    views: int
    downloads: int
    bandwidth_bytes: int
    daily: list[DayStats]


async def image_stats(
    session: AsyncSession, image_id: str, days: int, today: dt.date
) -> ImageStats:
    """All-time totals and the last ``days`` days (oldest first, days with data only)."""
    s = _STATS.c
    totals = (
        await session.execute(
            select(
                func.coalesce(func.sum(s.views), 0),
                func.coalesce(func.sum(s.downloads), 0),
                func.coalesce(func.sum(s.bandwidth_bytes), 0),
            ).where(s.image_id == image_id)
        )
    ).one()
    since = today - dt.timedelta(days=days - 1)
    rows = await session.execute(
        select(s.day, s.views, s.downloads, s.bandwidth_bytes)
        .where(s.image_id == image_id, s.day >= since)
        .order_by(s.day)
    )
    return ImageStats(
        image_id=image_id,
        views=int(totals[0]),
        downloads=int(totals[1]),
        bandwidth_bytes=int(totals[2]),
        daily=[DayStats(r.day, r.views, r.downloads, r.bandwidth_bytes) for r in rows],
    )


async def owner_bandwidth(session: AsyncSession, owner_id: str, since: dt.date) -> int:
    """Bytes served of the owner's images (org images they uploaded included)
    from ``since`` on."""
    b = _BANDWIDTH.c
    total = await session.scalar(
        select(func.coalesce(func.sum(b.bandwidth_bytes), 0)).where(
            b.owner_id == owner_id, b.day >= since
        )
    )
    return int(total or 0)


async def org_bandwidth(session: AsyncSession, org_id: str, since: dt.date) -> int:
    """Bytes served of the org's images from ``since`` on: the per-image counts
    summed over the images in the org's namespace, in one statement."""
    s, images = _STATS.c, _IMAGES.c
    total = await session.scalar(
        select(func.coalesce(func.sum(s.bandwidth_bytes), 0))
        .join_from(_STATS, _IMAGES, images.id == s.image_id)
        .where(images.org_id == org_id, s.day >= since)
    )
    return int(total or 0)
