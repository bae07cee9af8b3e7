"""Processing's own tables: the rendition cache's ledger, and the scrub's
runs and findings (``imghost verify``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
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


class ScrubRun(Base):
    """One ``imghost verify``: what it queued and, as its jobs finish, how many
    images and bytes they read and how many problems they found. The counters
    are bumped by each job in its own commit, so the report is live."""

    __tablename__ = "scrub_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    repair: Mapped[bool] = mapped_column(Boolean, default=False)
    # The command's options, as the operator gave them (for the report).
    scope: Mapped[str] = mapped_column(String(200), default="")
    queued: Mapped[int] = mapped_column(Integer, default=0)
    verified: Mapped[int] = mapped_column(Integer, default=0)
    verified_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    problems: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScrubFinding(Base):
    """A stored blob that did not match what was recorded: an original or a
    derivative, missing or corrupt, and what the scrub did about it. No
    foreign key to the image: the finding is the operator's record and
    outlives a purge of the image."""

    __tablename__ = "scrub_findings"
    __table_args__ = (Index("ix_scrub_findings_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("scrub_runs.id", ondelete="CASCADE"))
    image_id: Mapped[str] = mapped_column(String(40))
    blob_key: Mapped[str] = mapped_column(String(300))
    # original | gps_free | preset (images.versions' kinds)
    kind: Mapped[str] = mapped_column(String(16))
    # missing | corrupt (bytes differ from the recorded SHA-256, or, without
    # one, a size that differs or bytes that do not decode)
    problem: Mapped[str] = mapped_column(String(16))
    # reported | damaged (the image marked so) | rerender (a job queued) |
    # restored (a damaged image whose original is intact again)
    action: Mapped[str] = mapped_column(String(16))
    found_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
