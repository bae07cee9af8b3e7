"""Request and response models of the trash."""

from __future__ import annotations

import datetime as dt

from imghost.images.models import Image
from imghost.images.schemas import ImageOut
from imghost.lifecycle.models import TrashEntry
from imghost.schemas import ApiModel, Timestamp


class TrashItem(ImageOut):
    deleted_at: Timestamp
    # When the image is purged for good (the end of the restore window).
    purge_at: Timestamp
    # False once the window has passed (the sweep purges it soon) or the purge began.
    restorable: bool

    @classmethod
    def of_entry(
        cls, image: Image, entry: TrashEntry, base_url: str, now: dt.datetime
    ) -> TrashItem:
        out = ImageOut.of(image, base_url)
        return cls(
            **out.model_dump(),
            deleted_at=entry.deleted_at,
            purge_at=entry.purge_at,
            restorable=entry.purging_since is None and entry.purge_at > now,
        )


class TrashList(ApiModel):
    images: list[TrashItem]
    page: int
    limit: int
    total: int
    # IMGHOST_TRASH_RETENTION, seconds: how long newly deleted images stay.
    retention_seconds: int
