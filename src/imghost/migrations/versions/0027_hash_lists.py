"""hash lists: an image's PDQ hash, and the list that quarantined it

Revision ID: 0027_hash_lists
Revises: 0023_audit
Create Date: 2026-12-07 12:30:00.000000

Nullable columns on `images`: existing images have no PDQ hash until a
rescan computes it, and were quarantined by no hash list. Plain ADD/DROP
COLUMN, not a batch copy of `images`: a copy would break the listing
triggers of 0010/0011 on SQLite. None of these columns is in a trigger, an
index or a constraint, so SQLite (3.35+) drops them in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_hash_lists"
down_revision: str | None = "0023_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMAGE_COLUMNS = ("hash_match", "pdq_quality", "pdq")


def upgrade() -> None:
    op.add_column("images", sa.Column("pdq", sa.String(length=64), nullable=True))
    op.add_column("images", sa.Column("pdq_quality", sa.SmallInteger(), nullable=True))
    op.add_column("images", sa.Column("hash_match", sa.String(length=16), nullable=True))


def downgrade() -> None:
    for name in IMAGE_COLUMNS:
        op.drop_column("images", name)
