"""account deletion and data export: the users tombstone columns, data_exports

Revision ID: 0019_account_deletion
Revises: 0015_account_lifecycle
Create Date: 2026-12-07 09:00:00.000000

A deleted account keeps its `users` row as a tombstone (`deleted_at`, e-mail and
username scrubbed), so `images.owner_id` of the org images it uploaded, which stay
with the org, still holds; `delete_after` is the end of the grace period in which
the user may cancel. `data_exports` records the ZIP exports users ask for.

Columns are added with plain ALTER TABLE (no batch rebuild): rebuilding `users` on
SQLite with foreign keys enforced would cascade into every table that points at it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0019_account_deletion"
# The lead re-chains this after the other migrations of issue 16.
down_revision: str | None = "0015_account_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_USER_COLUMNS = ("deletion_requested_at", "delete_after", "deleted_at", "purged_at")


def upgrade() -> None:
    for name in _USER_COLUMNS:
        op.add_column("users", sa.Column(name, imghost.db.UTCDateTime(), nullable=True))
    op.create_index(op.f("ix_users_delete_after"), "users", ["delete_after"], unique=False)
    op.create_table(
        "data_exports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("images", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", imghost.db.UTCDateTime(), nullable=False),
        sa.Column("ready_at", imghost.db.UTCDateTime(), nullable=True),
        sa.Column("expires_at", imghost.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_data_exports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    op.create_index(
        "ix_data_exports_user_created", "data_exports", ["user_id", "created_at"], unique=False
    )
    op.create_index("ix_data_exports_expires_at", "data_exports", ["expires_at"], unique=False)
    op.create_index(
        "uq_data_exports_pending",
        "data_exports",
        ["user_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("uq_data_exports_pending", table_name="data_exports")
    op.drop_index("ix_data_exports_expires_at", table_name="data_exports")
    op.drop_index("ix_data_exports_user_created", table_name="data_exports")
    op.drop_table("data_exports")
    op.drop_index(op.f("ix_users_delete_after"), table_name="users")
    # Plain DROP COLUMN (SQLite 3.35+), never a batch rebuild of `users` (see above).
    for name in reversed(_USER_COLUMNS):
        op.drop_column("users", name)
