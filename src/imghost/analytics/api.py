"""GET /v1/images/{id}/stats: the owner's view of an image's counts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from imghost.access.decide import image_access
from imghost.access.policy import Action
from imghost.analytics import services
from imghost.analytics.schemas import ImageStatsOut
from imghost.deps import Db, ReadDb, Reads, Who
from imghost.images import services as images

router = APIRouter(tags=["analytics"])


@router.get("/v1/images/{image_id}/stats", response_model=ImageStatsOut)
async def image_stats(
    image_id: str,
    caller: Who,
    db: Db,
    read: ReadDb,
    reads: Reads,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> ImageStatsOut:
    """Owner level (the uploader, an org owner or admin). Counts are written in
    batches, so the last few seconds of traffic may not show yet."""
    image = await images.get_image(db, image_id)
    await image_access(reads, caller, image, Action.SHARE)
    stats = await services.image_stats(read, image_id, days, dt.datetime.now(dt.UTC).date())
    return ImageStatsOut.of(stats)
