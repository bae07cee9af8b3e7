from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow


class ImageCollaborator(Base):
    """A per-image grant to one user: view, download or edit."""

    __tablename__ = "image_collaborators"
    __table_args__ = (Index("ix_image_collaborators_user", "user_id", "image_id"),)

    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    permission: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The grant counts until then (None: until revoked); every read checks it.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ShareLink(Base):
    """A revocable link to one image or one album.

    The id is the secret in the URL (128 random bits). Holding it is not
    enough to fetch bytes: resolving the link (with its password, if any)
    counts a view and mints a short-lived grant that delivery checks against
    this row on every request, so revocation is immediate.
    """

    __tablename__ = "share_links"
    __table_args__ = (
        Index("ix_share_links_image", "image_id"),
        Index("ix_share_links_album", "album_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    image_id: Mapped[str | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    album_id: Mapped[str | None] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    permissions: Mapped[list[str]] = mapped_column(JSON)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    max_views: Mapped[int | None] = mapped_column(Integer)
    views: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PendingShare(Base):
    """A share addressed to an e-mail address, waiting to be claimed.

    It grants nothing by itself: ``sharing.pending.claim_pending_shares``
    turns it into a collaborator grant for the account that proves it holds
    the address (a verified e-mail), and deletes it. Exactly one of
    ``image_id`` / ``album_id`` is set; both cascade, so a purged target
    leaves no invitation behind.
    """

    __tablename__ = "pending_shares"
    __table_args__ = (
        Index("ix_pending_shares_email", "email"),
        Index("ix_pending_shares_image", "image_id"),
        Index("ix_pending_shares_album", "album_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    image_id: Mapped[str | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    album_id: Mapped[str | None] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"))
    # Normalized (stripped, lower-cased) as users.email is, so claiming is one equality.
    email: Mapped[str] = mapped_column(String(254))
    permission: Mapped[str] = mapped_column(String(16))
    invited_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The claimed grant's own expiry (None: until revoked); the invitation
    # never outlasts it.
    grant_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
