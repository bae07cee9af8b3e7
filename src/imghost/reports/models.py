from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow

# A report still waiting for a decision (``open``, or ``assigned`` to an admin).
ACTIVE_SQL = "status IN ('open', 'assigned')"


class AbuseReport(Base):
    """One report of one image, by a signed-in user or an anonymous caller.

    Reports of one image are decided together (the queue lists images, not
    reports): assigning, resolving or dismissing any of them does the same to
    every active report of that image.
    """

    __tablename__ = "abuse_reports"
    __table_args__ = (
        # One active report per (image, signed-in reporter): a repeat updates it.
        # Anonymous reports have no reporter to key on; the per-address limit
        # bounds them.
        Index(
            "ux_abuse_reports_active_reporter",
            "image_id",
            "reporter_id",
            unique=True,
            sqlite_where=text(f"{ACTIVE_SQL} AND reporter_id IS NOT NULL"),
            postgresql_where=text(f"{ACTIVE_SQL} AND reporter_id IS NOT NULL"),
        ),
        # The queue groups a status's reports by image; the detail page lists an image's.
        Index("ix_abuse_reports_status_image", "status", "image_id", "created_at"),
        Index("ix_abuse_reports_image", "image_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    # Null for anonymous reports, and once the reporter's account is deleted:
    # the report outlives its reporter, it is the moderation record.
    reporter_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # copyright | abuse | illegal | spam | other (reports.schemas.REASONS)
    reason: Mapped[str] = mapped_column(String(16))
    details: Mapped[str | None] = mapped_column(Text)
    # open → assigned → resolved | dismissed (open → resolved | dismissed too)
    status: Mapped[str] = mapped_column(String(16), default="open")
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # What closed it: quarantine (resolved) or dismiss; by whom (null: the CLI), why.
    resolution: Mapped[str | None] = mapped_column(String(16))
    closed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
