"""ingest: duplicates by content hash per owner, webhook-only image events

Revision ID: 0016_ingest
Revises: 0017_scan_verdict
Create Date: 2026-12-07 08:30:00.000000

An upload looks up the owner's live images with the same SHA-256 before it
stores a copy: `ix_images_owner_sha256` makes that one index probe.

Image events (`image.uploaded`, `image.ready`, ...) go to webhooks only: their
rows in `notifications` (which the delivery log points at) carry
`in_app = false` and stay out of the in-app list and its unread count.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_ingest"
down_revision: str | None = "0017_scan_verdict"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain CREATE INDEX, not a batch: a batch would rebuild `images` on SQLite
    # and drop the triggers that keep the listing and search tables in step.
    op.create_index("ix_images_owner_sha256", "images", ["owner_id", "sha256"], unique=False)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("in_app", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("in_app")
    op.drop_index("ix_images_owner_sha256", table_name="images")
