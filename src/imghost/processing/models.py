"""The rendition cache's ledger: one row per stored on-demand rendition."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow


class Rendition(Base):
    """A rendition made on request (a transform, an AVIF preset) and stored.

    The service owns these bytes: they count against no quota, are bounded per
    image and in total, and are evicted by age and least recent use (see
    :mod:`imghost.processing.rendition_cache`). The row is written before the
    blob and deleted before it, so a row may briefly name a missing blob
    (a miss, rendered again) and a crash may leave a blob without a row (gc
    removes it). Purging the image deletes its rows by cascade.
    """

    __tablename__ = "renditions"
    __table_args__ = (
        Index("ix_renditions_image", "image_id"),
        Index("ix_renditions_last_used", "last_used_at"),
    )

    blob_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    # The account the image counts against, for operators' reports only.
    account_id: Mapped[str] = mapped_column(String(40))
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
