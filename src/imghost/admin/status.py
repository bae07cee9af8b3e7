"""The service's health as an operator reads it: the job queue, images by
state, storage, and the users nearest their quota, gathered from each
feature's own figures (``GET /v1/admin/status``, ``imghost admin status``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.images import services as images
from imghost.jobs import queue
from imghost.quotas import services as quotas
from imghost.settings import Settings

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class OldestDue:
    kind: str
    due_at: dt.datetime
    waiting_seconds: int


@dataclass(frozen=True)
class Status:
    generated_at: dt.datetime
    queue: dict[str, dict[str, int]]  # kind -> status -> jobs
    oldest_due: OldestDue | None
    dead_jobs: int
    dead_jobs_last_day: int
    images: images.ImageStats
    storage: quotas.Totals
    nearest_quota: list[quotas.NearQuota]


async def gather(session: AsyncSession, settings: Settings, nearest: int = 10) -> Status:
    now = utcnow()
    by_kind = await queue.stats(session)
    oldest = await queue.oldest_due(session, now)
    return Status(
        generated_at=now,
        queue=by_kind,
        oldest_due=(
            OldestDue(oldest[0], oldest[1], max(int((now - oldest[1]).total_seconds()), 0))
            if oldest
            else None
        ),
        dead_jobs=sum(counts.get("dead", 0) for counts in by_kind.values()),
        dead_jobs_last_day=await queue.dead_since(session, now - DAY),
        images=await images.image_stats(session),
        storage=await quotas.totals(session),
        nearest_quota=await quotas.nearest_quota(session, settings, nearest),
    )
