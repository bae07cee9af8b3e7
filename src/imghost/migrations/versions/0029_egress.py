"""egress: monthly bandwidth counters and hotlink allow-lists

Revision ID: 0029_egress
Revises: 0028_damaged_images
Create Date: 2026-12-09 09:00:00.000000

`bandwidth_usage` counts the bytes of each account's images served per
calendar month (the analytics flush adds to it); it starts empty, so every
account begins the month of the upgrade at zero: bytes served before it are
in `owner_bandwidth_daily` (per uploader) but are not carried over.
`hotlink_allowlists` holds each user's or org's referrer allow-list; no row
is protection off, as for every account before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0029_egress"
down_revision: str | None = "0028_damaged_images"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bandwidth_usage",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("warned_percent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "month", name=op.f("pk_bandwidth_usage")),
    )
    op.create_index("ix_bandwidth_usage_month_bytes", "bandwidth_usage", ["month", "bytes"])
    op.create_table(
        "hotlink_allowlists",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("org_id", sa.String(length=40), nullable=True),
        sa.Column("hosts", sa.JSON(), nullable=False),
        sa.Column("updated_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_hotlink_allowlists_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_hotlink_allowlists_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_hotlink_allowlists")),
    )
    op.create_index("ix_hotlink_allowlists_updated", "hotlink_allowlists", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_hotlink_allowlists_updated", table_name="hotlink_allowlists")
    op.drop_table("hotlink_allowlists")
    op.drop_index("ix_bandwidth_usage_month_bytes", table_name="bandwidth_usage")
    op.drop_table("bandwidth_usage")
