"""The trash and the record of purged images.

Deletion state lives beside ``images`` rather than in it: ``images.deleted_at``
is what every read path filters on; the trash row says until when the image
may be restored and whether its purge has begun.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime


class TrashEntry(Base):
    """A soft-deleted image: exists exactly while ``images.deleted_at`` is set.

    ``purging_since`` set means the purge has begun (a restore is refused from
    then on); the purge sweep finishes such rows whatever happened to the
    process that began them.
    """

    __tablename__ = "trash"
    __table_args__ = (Index("ix_trash_purge_at", "purge_at"),)

    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    deleted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # End of the retention window (deleted_at + IMGHOST_TRASH_RETENTION at the
    # time of the delete: changing the setting later keeps the promise made).
    purge_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    purging_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PurgedImage(Base):
    """What is left of a purged image: its id and who owned it, no bytes, no
    metadata. Lets a late restore answer 410 instead of a bare 404."""

    __tablename__ = "purged_images"

    image_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(40), index=True)
    org_id: Mapped[str | None] = mapped_column(String(40))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
