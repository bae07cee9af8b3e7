"""The allow-lists of referrer hosts, one row per account (user or org)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow


class HotlinkAllowList(Base):
    """An account's allow-list; an empty list (protection off) keeps its row,
    so delivery's incremental reload (rows changed since its last one) sees
    the change. The account is a user or an org: one of ``user_id`` and
    ``org_id`` is set, so deleting the account deletes its list."""

    __tablename__ = "hotlink_allowlists"
    __table_args__ = (Index("ix_hotlink_allowlists_updated", "updated_at"),)

    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[str | None] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    # Normalised host names and `*.domain` wildcards (``hotlink.hosts``).
    hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
