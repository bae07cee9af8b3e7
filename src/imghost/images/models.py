from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from imghost.db import Base, UTCDateTime, utcnow
from imghost.images.fields import MAX_TITLE

# What anyone may see and list: kept as `image_tags.listed` by triggers
# (migration 0010, widened by 0024 to leave out withheld images) and as the
# condition of the partial indexes below.
LISTED_SQL = (
    "visibility = 'public' AND status = 'ready' AND deleted_at IS NULL AND withheld IS NULL"
)


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        Index("ix_images_owner_created", "owner_id", "created_at", "id"),
        # An upload's duplicate check: the owner's images with the same bytes.
        Index("ix_images_owner_sha256", "owner_id", "sha256"),
        # Listings anyone may see, newest first and most viewed first.
        Index(
            "ix_images_listed_created",
            "created_at",
            "id",
            sqlite_where=text(LISTED_SQL),
            postgresql_where=text(LISTED_SQL),
        ),
        Index(
            "ix_images_listed_views",
            "view_count",
            "id",
            sqlite_where=text(LISTED_SQL),
            postgresql_where=text(LISTED_SQL),
        ),
        Index(
            "ix_images_org_created",
            "org_id",
            "created_at",
            "id",
            sqlite_where=text("org_id IS NOT NULL"),
            postgresql_where=text("org_id IS NOT NULL"),
        ),
        # The trash sweep's deleted images (few).
        Index(
            "ix_images_deleted",
            "deleted_at",
            sqlite_where=text("deleted_at IS NOT NULL"),
            postgresql_where=text("deleted_at IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The uploader. For an org image the org is the namespace (org_id) and the
    # uploader keeps owner rights only while a member (see access.policy).
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[str | None] = mapped_column(
        ForeignKey("orgs.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str | None] = mapped_column(String(MAX_TITLE))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16))
    # processing → ready | failed (a step after the scan failed, or the scan
    # could not run: see scan_status) | quarantined (the scan refused it)
    status: Mapped[str] = mapped_column(String(16), default="processing")
    status_reason: Mapped[str | None] = mapped_column(String(300))
    # The content scan's verdict, apart from processing: pending | passed |
    # refused. Only a scan that did not pass keeps the image from others; one
    # that passed before a later step failed leaves the original retrievable.
    scan_status: Mapped[str] = mapped_column(
        String(16), default="pending", server_default="pending"
    )
    scan_reason: Mapped[str | None] = mapped_column(String(300))
    # The malware scanner's (clamd's) own verdict, part of the scan above when
    # one is configured: null (none configured, or scanned before 0021) |
    # clean | infected (`malware_signature` names the match) | unscanned
    # (clamd was unreachable and IMGHOST_CLAMD_UNREACHABLE=open let it pass).
    malware_scan: Mapped[str | None] = mapped_column(String(16))
    malware_signature: Mapped[str | None] = mapped_column(String(200))
    # When clamd last gave its verdict (imghost rescan compares it).
    malware_scanned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The original's PDQ perceptual hash (64 hex digits) and its quality (0-100),
    # computed by the processing job where it decodes anyway: a rescan matches a
    # new hash list entry against it without decoding again. Null: not computed.
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(SmallInteger)
    # The operator's hash list that quarantined the image (sha256 | pdq), else null.
    hash_match: Mapped[str | None] = mapped_column(String(16))
    # Whether the original carries GPS (looked at with the scan; null: not yet
    # known). Others get the original only when this is false (or the owner
    # opted in): a GPS original without its GPS-free copy goes to nobody else.
    original_gps: Mapped[bool | None] = mapped_column(Boolean)
    # Which processing step failed (scan, metadata, derivatives, gps_copy,
    # store) and how (a code, docs/API.md): set while status is `failed`.
    failed_step: Mapped[str | None] = mapped_column(String(16))
    failed_code: Mapped[str | None] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(8))
    mime_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer, default=1)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(String(255))
    # GPS is kept (stored, returned, served) only when the owner opted in at upload.
    keep_gps: Mapped[bool] = mapped_column(Boolean, default=False)
    # Extracted by the processing job: EXIF, colour, placeholder... (never GPS).
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    gps: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When the original carries GPS the owner did not opt in to, everyone but
    # the owner is served this copy with GPS scrubbed (same length, same pixels).
    public_blob_key: Mapped[str | None] = mapped_column(String(200))
    public_sha256: Mapped[str | None] = mapped_column(String(64))
    public_size: Mapped[int | None] = mapped_column(BigInteger)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Copied out of the EXIF metadata by the processing job, for filters.
    taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    camera_make: Mapped[str | None] = mapped_column(String(64))
    camera_model: Mapped[str | None] = mapped_column(String(64))
    # Views of the image and its derivatives, flushed in batches (analytics).
    view_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Why the image is withheld from everyone but site admins (451 on every
    # path, out of every listing): ``takedown`` (an admin's takedown, which also
    # puts its bytes under legal hold) or ``suspended`` (its owner is
    # suspended). On the row so every read decides without another query, and
    # a suspension of a user with many images is one UPDATE, in effect at its
    # commit (moderation/). A takedown wins over a suspension.
    withheld: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    tag_rows: Mapped[list[ImageTag]] = relationship(
        back_populates="image",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="ImageTag.position",
    )
    # Only ever assigned (the original's row, by build_image), so that every
    # upload path inserts it with the image; read with images.versions, never
    # loaded through the ORM (listings stay light). Removed by the database's
    # ON DELETE CASCADE when the purge deletes the image row.
    version_rows: Mapped[list[ImageVersion]] = relationship(
        lazy="raise", passive_deletes=True, cascade="save-update, merge"
    )

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.tag_rows]


class ImageTag(Base):
    """A tag of an image, with copies of the image's sort keys so that a tag
    listing walks one index in order: ``owner_id`` and ``created_at`` (never
    change) and ``listed`` (public, ready, not deleted). Database triggers fill
    them on insert and follow visibility, status and deletion (migration 0010);
    the app never writes them."""

    __tablename__ = "image_tags"
    __table_args__ = (
        Index("ix_image_tags_listed", "tag", "listed", "created_at", "image_id"),
        Index("ix_image_tags_owner", "tag", "owner_id", "created_at", "image_id", "listed"),
    )

    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    owner_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    listed: Mapped[bool] = mapped_column(Boolean, server_default=false())

    image: Mapped[Image] = relationship(back_populates="tag_rows")


class ImageVersion(Base):
    """One stored blob of an image: the original, its GPS-free copy, or a
    pre-generated preset, with what a client needs to choose one (srcset) and
    what later work needs (the hash for a scrub, last use for eviction).

    Written in the transaction that records its blob: the upload's (original)
    and the processing job's (GPS-free copy, presets; a re-run replaces them).
    Deleted with the image row by ON DELETE CASCADE, after the purge deleted
    the bytes (rows outlive their bytes, never the reverse). Renditions made
    on request are not here: they are the rendition cache's (``renditions``).
    """

    __tablename__ = "image_versions"
    __table_args__ = (Index("ix_image_versions_image", "image_id"),)

    blob_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    # original | gps_free | preset (see images.versions for the names)
    kind: Mapped[str] = mapped_column(String(16))
    # "original" for the two originals; the preset's name (thumb, small, ...)
    name: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    # Width, height and hash are null only for presets stored before
    # migration 0014, until the maintenance pass measured them
    # (processing.tasks.measure_versions; its size too when 0 was recorded).
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)  # bytes stored
    # Of the stored bytes, for a scrub; every version written since 0014 has it.
    sha256: Mapped[str | None] = mapped_column(String(64))
    # Set when written; kept for caches evicted by use (views do not write
    # it yet, so the delivery path stays free of writes).
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
