"""Storage accounting: usage per account, reservations, and what each image costs.

An *account* is a user (``u_…``) or an organization (``org_…``): an image
with an ``org_id`` counts against its org's pooled quota, any other image
against its uploader.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow


class StorageUsage(Base):
    """One row per account; every change is a single conditional UPDATE of it,
    so concurrent uploads serialize on the row (PostgreSQL row lock, SQLite's
    write lock) and cannot overshoot the quota together."""

    __tablename__ = "storage_usage"

    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # user | org
    originals_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    derivatives_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Declared sizes of uploads in progress (see QuotaReservation).
    reserved_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    images: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The highest warning threshold (percent) already announced; lowered again
    # (re-armed) when usage falls below it.
    warned_percent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The lowest usage (originals + derivatives) since warnings were last
    # evaluated, when it fell meanwhile: purge lowers it without knowing the
    # quota, and the next evaluation re-arms the thresholds it went below.
    low_water_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # An administrator's quota for this account, in place of its plan's
    # (``quotas.services.set_quota_override``); null: the plan's.
    quota_override_bytes: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuotaReservation(Base):
    """Bytes promised to an upload in progress, counted in ``reserved_bytes``.

    ``id`` is the upload's id for presigned and tus uploads (released when it
    completes, fails, is terminated or expires) or a ``qr_…`` id for a direct
    upload (released when its request ends). ``expires_at`` bounds the promise
    if the process that made it dies: gc releases it then.
    """

    __tablename__ = "quota_reservations"
    __table_args__ = (Index("ix_quota_reservations_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class QuotaBlob(Base):
    """A stored blob counted in an account's usage: an original or a derivative.

    Keyed by blob key, so writing the same derivative again (a re-run job, two
    processes rendering the same transform) replaces its size instead of
    adding it twice. No foreign key to ``images``: purge frees these rows
    through :func:`imghost.quotas.usage.image_purged`, before or after the
    image row goes.
    """

    __tablename__ = "quota_blobs"
    __table_args__ = (Index("ix_quota_blobs_image", "image_id"),)

    blob_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    image_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))  # original | derivative
    bytes: Mapped[int] = mapped_column(BigInteger)


class BandwidthUsage(Base):
    """Bytes of an account's images served in one calendar month (UTC): the
    monthly bandwidth budget's counter.

    Written only by the analytics flush (``quotas.bandwidth.count_served``),
    which adds each batch in one statement; a month's row appears with its
    first byte served, so a new month starts from zero with nothing to reset.
    Like ``storage_usage`` an account is a user or an org (an image in an org
    counts against the org), so no foreign key.
    """

    __tablename__ = "bandwidth_usage"
    # Delivery's refresh reads the current month's rows over the smallest budget.
    __table_args__ = (Index("ix_bandwidth_usage_month_bytes", "month", "bytes"),)

    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # its first day
    bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The highest warning threshold (percent) already announced this month;
    # lowered when a larger budget (a plan change) puts usage below it again.
    warned_percent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
