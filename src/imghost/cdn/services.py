"""The one place where "an image stopped being public" is told.

Every change that takes an image out of what anyone may fetch, which a cache
in front may still hold, calls :func:`unpublished` in the transaction that
makes it: a visibility change away from public or unlisted
(``images.services.update_image``), a delete into the trash (every purge
begins with one: ``lifecycle.services.trash_image``), a takedown or a
suspension (``images.withholding``), a quarantine (a moderator's, a rescan's
or a hash-list match: ``images.moderation``, ``images.quarantine``), damage
found by the scrub (``images.damage``) and an org's deletion with its images
(``orgs.services.delete_org``).

What it does now: queue a ``cdn_purge`` job (an outbox: the job exists iff
the change commits) when a purge is configured. Whether one is travels with
the session (its factory's ``info``, set by the composition root from the
settings), so the many services that unpublish need no settings. Services
flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.jobs.queue import enqueue

JOB_KIND = "cdn_purge"
# session.info key: the purge job's attempts, present when a purge is configured.
PURGE_ATTEMPTS = "imghost.cdn.purge_attempts"
# Images per purge job: a suspension of a large account queues a job per this many.
JOB_IMAGES = 500


def session_info(configured: bool, attempts: int) -> dict[str, Any]:
    """What the composition root puts in every session's ``info``."""
    return {PURGE_ATTEMPTS: attempts} if configured else {}


async def unpublished(session: AsyncSession, image_ids: Iterable[str]) -> None:
    """``image_ids`` stop being public when this transaction commits: drop
    them from caches in front (a purge job per ``JOB_IMAGES`` images)."""
    ids = sorted(set(image_ids))
    attempts = session.info.get(PURGE_ATTEMPTS)
    if not ids or not attempts:
        return
    for start in range(0, len(ids), JOB_IMAGES):
        enqueue(
            session,
            JOB_KIND,
            {"imageIds": ids[start : start + JOB_IMAGES]},
            max_attempts=int(attempts),
        )
