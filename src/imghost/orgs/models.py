"""The org tables: organizations, their members by role and invitations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from imghost.db import Base, UTCDateTime, utcnow


class Org(Base):
    """An organization: a namespace of its own that members share by role."""

    __tablename__ = "orgs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Storage quota plan of the org's pooled quota: free | premium.
    plan: Mapped[str] = mapped_column(String(16), default="free", server_default="free")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrgMember(Base):
    __tablename__ = "org_members"
    __table_args__ = (Index("ix_org_members_user", "user_id"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))  # owner | admin | member | viewer
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrgInvitation(Base):
    """An invitation to join an org, addressed to a user id or an email.

    Signup does not verify addresses, so an email invitation is never shown
    to an account by its address: it is accepted by presenting its id (128
    random bits, passed on by the inviter) from an account with that address.
    """

    __tablename__ = "org_invitations"
    __table_args__ = (
        Index("ix_org_invitations_user", "user_id"),
        Index("ix_org_invitations_email", "email"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16))
    invited_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
