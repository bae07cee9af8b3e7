"""quota override: an administrator's quota for one account in place of its plan's

Revision ID: 0026_quota_override
Revises: 0022_totp
Create Date: 2026-12-07 11:30:00.000000

A nullable column on `storage_usage`: null (every existing row) means the
plan's quota, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_quota_override"
down_revision: str | None = "0022_totp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("storage_usage") as batch:
        batch.add_column(sa.Column("quota_override_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("storage_usage") as batch:
        batch.drop_column("quota_override_bytes")
