"""The ``data_exports`` table: one row per export a user asked for."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow


class DataExport(Base):
    """An export: ``pending`` (its job queued or running) → ``ready`` (the ZIP is
    at ``blob_key`` until ``expires_at``) or ``failed``; ``expired`` once the
    maintenance pass removed the ZIP. One unfinished export per user at a time."""

    __tablename__ = "data_exports"
    __table_args__ = (
        Index("ix_data_exports_user_created", "user_id", "created_at"),
        Index("ix_data_exports_expires_at", "expires_at"),
        # One export being made per user: two starts at once cannot both insert.
        Index(
            "uq_data_exports_pending",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # pending | ready | failed | expired
    blob_key: Mapped[str] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(BigInteger)
    images: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ready_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
