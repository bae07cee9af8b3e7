from __future__ import annotations

import datetime as dt

from imghost.analytics.services import ImageStats
from imghost.schemas import ApiModel


class DayStatsOut(ApiModel):
    day: dt.date
    views: int
    downloads: int
    bandwidth_bytes: int


class ImageStatsOut(ApiModel):
    image_id: str
    views: int
    downloads: int
    bandwidth_bytes: int
    daily: list[DayStatsOut]

    @classmethod
    def of(cls, stats: ImageStats) -> ImageStatsOut:
        return cls(
            image_id=stats.image_id,
            views=stats.views,
            downloads=stats.downloads,
            bandwidth_bytes=stats.bandwidth_bytes,
            daily=[
                DayStatsOut(
                    day=d.day,
                    views=d.views,
                    downloads=d.downloads,
                    bandwidth_bytes=d.bandwidth_bytes,
                )
                for d in stats.daily
            ],
        )
