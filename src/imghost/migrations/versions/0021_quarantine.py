"""quarantine: the malware scan's verdict on images, deferrals of jobs

Revision ID: 0021_quarantine
Revises: 0020_grant_expiry
Create Date: 2026-12-07 11:00:00.000000

A ClamAV daemon scans each image after the structural scan. Its verdict is
kept apart from `scan_status` (which stays the gate: pending | passed |
refused) because it says more: `malware_scan` is null (no malware scanner was
configured, or the image predates this), `clean`, `infected` (then
`malware_signature` names the match) or `unscanned` (clamd could not be reached
and the install fails open); `malware_scanned_at` is when clamd last answered,
for `imghost rescan`.

`jobs.deferrals` counts the times a job was put back because a service it needs
was down (clamd under the closed policy): those do not use up `attempts`, and
the backoff between them grows with this count instead.

Plain ALTER TABLE, no batch rebuild: a rebuild of `images` on SQLite would drop
the listing triggers of 0010/0011. None of these columns is in a trigger, an
index or a constraint, so SQLite (3.35+) drops them in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0021_quarantine"
down_revision: str | None = "0020_grant_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMAGE_COLUMNS = ("malware_scanned_at", "malware_signature", "malware_scan")


def upgrade() -> None:
    op.add_column("images", sa.Column("malware_scan", sa.String(length=16), nullable=True))
    op.add_column("images", sa.Column("malware_signature", sa.String(length=200), nullable=True))
    op.add_column(
        "images", sa.Column("malware_scanned_at", imghost.db.UTCDateTime(), nullable=True)
    )
    op.add_column("jobs", sa.Column("deferrals", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("jobs", "deferrals")
    for name in IMAGE_COLUMNS:
        op.drop_column("images", name)
