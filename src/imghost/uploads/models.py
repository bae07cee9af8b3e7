from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow


class Upload(Base):
    """An upload in progress: a presigned slot, or a resumable (tus) upload.

    Presigned: the client PUTs the bytes to ``blob_key`` (S3 or our signed
    URL), then finalizes. Resumable: bytes arrive in PATCHes; ``offset`` is
    the durable count, ``storage`` the backend's state (S3 multipart id and
    parts), and a lease (``lock_token``/``locked_until``) lets one request at
    a time write, whichever API process it reaches.
    """

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_status_expires", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # presigned | tus
    kind: Mapped[str] = mapped_column(String(16), default="presigned")
    filename: Mapped[str] = mapped_column(String(255))
    # None while a tus upload defers its length.
    size: Mapped[int | None] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    checksum: Mapped[str | None] = mapped_column(String(100))
    blob_key: Mapped[str] = mapped_column(String(200))
    # pending → completed (became an image) | failed (bytes were not a valid
    # image) | uploaded (a tus partial, waiting to be concatenated) |
    # concatenated | terminated (DELETE) | expired (collected by gc)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    image_id: Mapped[str | None] = mapped_column(String(40))
    # tus: the id the image will get, reserved so bytes can go to its key early.
    reserved_image_id: Mapped[str | None] = mapped_column(String(40))
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    # Image fields from tus Upload-Metadata (title, description, tags, visibility).
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # tus concatenation: "partial", or "final" (then ``partials`` lists the ids).
    concat: Mapped[str | None] = mapped_column(String(8))
    partials: Mapped[list[str] | None] = mapped_column(JSON)
    storage: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lock_token: Mapped[str | None] = mapped_column(String(40))
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)
    # Set once a finished upload's partial bytes are gone (gc does it at the latest).
    cleaned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
