from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow


class Job(Base):
    """A durable unit of background work (the outbox row).

    queued → running (leased by one worker) → done, or back to queued with a
    later ``run_at`` after a failure, or dead after ``max_attempts``. A running
    job whose lease lapsed (its worker died) is claimable again.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_run_at", "status", "run_at"),
        Index("ix_jobs_status_priority_run_at", "status", "priority", "run_at"),
        Index("ix_jobs_image_id", "image_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The image a job is about, when it is about one: lets operators and the
    # API find an image's jobs without parsing payloads.
    image_id: Mapped[str | None] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # Claimed lowest first, then by run_at: queue.INTERACTIVE or queue.BULK.
    priority: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    # Times the job was put back because something it needs was down
    # (queue.Deferred): not attempts; they set the backoff between deferrals.
    deferrals: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The id of the request that queued the job, for its log lines (migration 0031).
    request_id: Mapped[str | None] = mapped_column(String(128))
