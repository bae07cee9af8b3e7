"""Daily counters, written only by the flusher (never per request)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base


class ImageStatsDaily(Base):
    """Views (derivatives), downloads (originals) and bytes served, per image and UTC day."""

    __tablename__ = "image_stats_daily"

    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    bandwidth_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class OwnerBandwidthDaily(Base):
    """Bytes served of each uploader's images, per UTC day (for plans and quotas)."""

    __tablename__ = "owner_bandwidth_daily"

    owner_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    bandwidth_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
