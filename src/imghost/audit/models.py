"""The audit tables: the chained events, the chain's head, and open login floods.

No foreign keys to ``users``: an event outlives its actor (an account deletion
keeps a tombstone and removes every row with a cascading key to ``users``,
``accounts.tasks``), and the chain must never lose a row but by its retention.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime


class AuditEvent(Base):
    """One event. ``id`` is the chain order, handed out by :class:`AuditHead`."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor", "actor_id", "id"),
        Index("ix_audit_events_target", "target_type", "target_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(40))
    actor_kind: Mapped[str] = mapped_column(String(16))  # user, admin, cli, anonymous, system
    # The plain values are scrubbed after IMGHOST_AUDIT_PII_RETENTION_DAYS; the
    # chain hashes their keyed digests, which stay, so it still verifies.
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    address_digest: Mapped[str | None] = mapped_column(String(64))
    user_agent_digest: Mapped[str | None] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The one row (id 1) every write to the chain updates first: its lock
    serialises the writers, and it holds the last id and hash."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    # The HMAC key of the address and user-agent digests, made by the migration:
    # a plain SHA-256 of an IPv4 address is undone by trying all 2^32 of them.
    pii_key: Mapped[str] = mapped_column(String(64))


class AuditFlood(Base):
    """Failed sign-ins of one (account, address) in one window past the first
    few: counted here, written to the chain as one aggregate event
    (``audit.floods``)."""

    __tablename__ = "audit_floods"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    count: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
