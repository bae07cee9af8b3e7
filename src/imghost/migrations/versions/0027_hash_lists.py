"""hash lists: an image's PDQ hash, and the list that quarantined it

Revision ID: 0027_hash_lists
Revises: 0023_audit
Create Date: 2026-12-07 12:30:00.000000

Nullable columns on `images`: existing images have no PDQ hash until a
rescan computes it, and were quarantined by no hash list.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_hash_lists"
down_revision: str | None = "0023_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("pdq", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("pdq_quality", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("hash_match", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("hash_match")
        batch.drop_column("pdq_quality")
        batch.drop_column("pdq")
