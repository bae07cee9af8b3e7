"""pending shares: shares addressed to an e-mail address, claimed once it is verified

Revision ID: 0018_pending_shares
Revises: 0019_account_deletion
Create Date: 2026-12-07 09:30:00.000000

A collaborator can be added by e-mail. The answer is the same whether or not
an account has that address, so the share always waits here until the
account holding the verified address claims it (then it becomes an
`image_collaborators` / `album_collaborators` row and this one goes).
A new table: nothing to backfill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0018_pending_shares"
down_revision: str | None = "0019_account_deletion"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_shares",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=True),
        sa.Column("album_id", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_pending_shares_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["album_id"],
            ["albums.id"],
            name=op.f("fk_pending_shares_album_id_albums"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_pending_shares_invited_by_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_shares")),
    )
    op.create_index("ix_pending_shares_email", "pending_shares", ["email"], unique=False)
    op.create_index("ix_pending_shares_image", "pending_shares", ["image_id"], unique=False)
    op.create_index("ix_pending_shares_album", "pending_shares", ["album_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pending_shares_album", table_name="pending_shares")
    op.drop_index("ix_pending_shares_image", table_name="pending_shares")
    op.drop_index("ix_pending_shares_email", table_name="pending_shares")
    op.drop_table("pending_shares")
