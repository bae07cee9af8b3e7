"""The record of takedowns: why an image is withheld, by whom, and its counter-notice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow


class Takedown(Base):
    """One takedown of one image, kept after it is lifted (the history of
    actions on an image). While ``lifted_at`` is null the image is withheld
    (``images.withheld = 'takedown'``) and its bytes are under legal hold."""

    __tablename__ = "takedowns"
    __table_args__ = (
        # At most one takedown in force per image.
        Index(
            "ix_takedowns_active",
            "image_id",
            unique=True,
            sqlite_where=text("lifted_at IS NULL"),
            postgresql_where=text("lifted_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # No cascade: the legal hold keeps the image row while the takedown is in
    # force, and a lifted takedown's record outlives a later purge (SET NULL).
    image_id: Mapped[str | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL"), index=True
    )
    # Copied so the record still says whose image it was after a purge.
    owner_id: Mapped[str] = mapped_column(String(40), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    # The notice it answers (a DMCA notice's id, a court order, a report id).
    reference: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The owner's counter-notice (the last one filed wins).
    counter_statement: Mapped[str | None] = mapped_column(Text)
    counter_contact: Mapped[str | None] = mapped_column(String(500))
    counter_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(40))
