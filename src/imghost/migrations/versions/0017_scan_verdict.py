"""scan verdict: the content scan's result kept apart from the processing status

Revision ID: 0017_scan_verdict
Revises: 0014_image_versions
Create Date: 2026-12-07 09:00:00.000000

An image whose processing failed after its scan passed stays retrievable by
those allowed to see it; only a scan that did not pass keeps it from others.
So the scan's verdict gets its own columns (`scan_status`: pending | passed |
refused, `scan_reason`), next to whether the original carries GPS
(`original_gps`, null while unknown) and which step failed how
(`failed_step`, `failed_code`).

Backfill from what is stored: `ready` images passed the scan, and their GPS
is known (a GPS-free copy exists exactly when the original has GPS the owner
did not opt in to share); `quarantined` ones were refused, for the reason
already in `status_reason`. For `failed` ones the stored data does not say
whether the scan ran before the failure, so they stay `pending` (served to
their owner only, as before) until processed again.

Plain ALTER TABLE, no batch rebuild: a rebuild of `images` on SQLite would
drop the listing triggers of 0010/0011. None of these columns is in a
trigger, an index or a constraint, so SQLite (3.35+) drops them in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_scan_verdict"
down_revision: str | None = "0014_image_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("failed_code", "failed_step", "original_gps", "scan_reason", "scan_status")


def upgrade() -> None:
    op.add_column(
        "images",
        sa.Column("scan_status", sa.String(length=16), server_default="pending", nullable=False),
    )
    op.add_column("images", sa.Column("scan_reason", sa.String(length=300), nullable=True))
    op.add_column("images", sa.Column("original_gps", sa.Boolean(), nullable=True))
    op.add_column("images", sa.Column("failed_step", sa.String(length=16), nullable=True))
    op.add_column("images", sa.Column("failed_code", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE images SET scan_status = 'passed', original_gps = "
        "CASE WHEN public_blob_key IS NOT NULL THEN true"
        " WHEN keep_gps THEN NULL ELSE false END WHERE status = 'ready'"
    )
    op.execute(
        "UPDATE images SET scan_status = 'refused', scan_reason = status_reason"
        " WHERE status = 'quarantined'"
    )


def downgrade() -> None:
    for name in COLUMNS:
        op.execute(f"ALTER TABLE images DROP COLUMN {name}")
