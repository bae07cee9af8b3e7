"""quotas and plans

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("plan", sa.String(length=16), server_default="free", nullable=False)
        )
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("plan", sa.String(length=16), server_default="free", nullable=False)
        )

    op.create_table(
        "storage_usage",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("originals_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("derivatives_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reserved_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("images", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("warned_percent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("low_water_bytes", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_storage_usage")),
    )
    op.create_table(
        "quota_reservations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", imghost.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_reservations")),
    )
    with op.batch_alter_table("quota_reservations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quota_reservations_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index("ix_quota_reservations_expires", ["expires_at"], unique=False)
    op.create_table(
        "quota_blobs",
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("blob_key", name=op.f("pk_quota_blobs")),
    )
    with op.batch_alter_table("quota_blobs", schema=None) as batch_op:
        batch_op.create_index("ix_quota_blobs_image", ["image_id"], unique=False)

    # Existing images start counted: their originals, and the GPS-free copy
    # served to others (a derivative). Pre-generated and on-demand derivatives
    # made before this revision have no recorded size and are not counted
    # (docs/OPERATIONS.md); every derivative written from now on is.
    op.execute(
        "INSERT INTO quota_blobs (blob_key, image_id, account_id, kind, bytes)"
        " SELECT blob_key, id, COALESCE(org_id, owner_id), 'original', size FROM images"
    )
    op.execute(
        "INSERT INTO quota_blobs (blob_key, image_id, account_id, kind, bytes)"
        " SELECT public_blob_key, id, COALESCE(org_id, owner_id), 'derivative', public_size"
        " FROM images WHERE public_blob_key IS NOT NULL AND public_size IS NOT NULL"
    )
    op.execute(
        "INSERT INTO storage_usage (account_id, kind, originals_bytes, derivatives_bytes,"
        " reserved_bytes, images, warned_percent, updated_at)"
        " SELECT account_id,"
        " CASE WHEN account_id IN (SELECT id FROM orgs) THEN 'org' ELSE 'user' END,"
        " SUM(CASE WHEN kind = 'original' THEN bytes ELSE 0 END),"
        " SUM(CASE WHEN kind = 'derivative' THEN bytes ELSE 0 END),"
        " 0, SUM(CASE WHEN kind = 'original' THEN 1 ELSE 0 END), 0, CURRENT_TIMESTAMP"
        " FROM quota_blobs GROUP BY account_id"
    )


def downgrade() -> None:
    op.drop_table("quota_blobs")
    op.drop_table("quota_reservations")
    op.drop_table("storage_usage")
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.drop_column("plan")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("plan")
