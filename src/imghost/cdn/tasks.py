"""The ``cdn_purge`` job: the configured purge for the images in its payload.

Registered always (by ``composition.job_registry``), so jobs queued while a
purge was configured still finish after it is removed: then there is nothing
to call and the job is done. It reads no rows: an image's URLs follow from
its id, and the image may be gone by the time the job runs (a purge).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from imghost.cdn.config import PurgeConfig
from imghost.cdn.purge import purge
from imghost.cdn.services import JOB_KIND
from imghost.jobs.registry import Registry

log = logging.getLogger(__name__)


async def purge_images(config: PurgeConfig, payload: dict[str, Any]) -> None:
    image_ids = [str(i) for i in payload.get("imageIds", [])]
    if not config.configured or not image_ids:
        return
    calls = await purge(config, image_ids)
    log.info("cdn: purged %d images in %d calls", len(image_ids), calls)


async def purge_dead(payload: dict[str, Any], error: str) -> None:
    # The worker logs every dead job; this says what an operator should do about it.
    log.error(
        "cdn: purging %d images failed for good (%s); a CDN may serve them until its cache "
        "expires. Fix the purge settings, then `imghost jobs retry --dead`",
        len(payload.get("imageIds", [])),
        error,
    )


def register(registry: Registry, config: PurgeConfig) -> None:
    registry.add(JOB_KIND, functools.partial(purge_images, config), dead=purge_dead)
