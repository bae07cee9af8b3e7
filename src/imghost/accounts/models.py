from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    # Stored lower-cased so uniqueness is case-insensitive on both backends.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(100))
    default_visibility: Mapped[str] = mapped_column(String(16), default="public")
    keep_gps: Mapped[bool] = mapped_column(Boolean, default=False)
    # Site administrators moderate: they may read and remove anything.
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Storage quota (and rate-limit) plan: free | premium (see quotas.services).
    plan: Mapped[str] = mapped_column(String(16), default="free", server_default="free")
    # Set when the owner of ``email`` proved it by an e-mailed token (or a
    # password reset, which proves the same). Claiming what was addressed to
    # the e-mail (org invitations) needs it; IMGHOST_REQUIRE_VERIFIED_EMAIL
    # makes uploads need it too.
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Account deletion (``accounts.deletion``): asked for at ``deletion_requested_at``,
    # carried out from ``delete_after`` on (the grace period, in which the user may
    # cancel). ``deleted_at`` set: the row is a tombstone (e-mail and username
    # scrubbed, no password) kept so rows that outlive the user (org images) still
    # point at something; ``purged_at`` set: every byte and row of the user's own is gone.
    deletion_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delete_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Suspended by a site admin (moderation/): no sign-in, no credential works,
    # and every image of the user is withheld (``images.withheld``).
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    suspension_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
