"""resumable (tus) uploads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a column's nullability in place.
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="presigned")
        )
        batch.alter_column("size", existing_type=sa.BigInteger(), nullable=True)
        batch.add_column(sa.Column("offset", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reserved_image_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("fields", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("concat", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("partials", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("storage", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("lock_token", sa.String(length=40), nullable=True))
        batch.add_column(
            sa.Column("locked_until", imghost.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("error_code", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("error_detail", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("cleaned_at", imghost.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        for name in (
            "cleaned_at",
            "error_detail",
            "error_code",
            "locked_until",
            "lock_token",
            "storage",
            "partials",
            "concat",
            "fields",
            "reserved_image_id",
            "offset",
            "kind",
        ):
            batch.drop_column(name)
        batch.alter_column("size", existing_type=sa.BigInteger(), nullable=False)
