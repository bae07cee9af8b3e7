"""abuse reports: the moderators' queue of reported images

Revision ID: 0025_reports
Revises: 0021_quarantine
Create Date: 2026-12-07 11:30:00.000000

One new table; nothing to backfill. The partial unique index keeps one active
(open or assigned) report per image and signed-in reporter, on both backends.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0025_reports"
down_revision: str | None = "0021_quarantine"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('open', 'assigned') AND reporter_id IS NOT NULL"


def _user_fk(column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["users.id"],
        name=op.f(f"fk_abuse_reports_{column}_users"),
        ondelete="SET NULL",
    )


def upgrade() -> None:
    op.create_table(
        "abuse_reports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("reporter_id", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.String(length=40), nullable=True),
        sa.Column("assigned_by", sa.String(length=40), nullable=True),
        sa.Column("assigned_at", imghost.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("closed_by", sa.String(length=40), nullable=True),
        sa.Column("closed_at", imghost.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_abuse_reports_image_id_images"),
            ondelete="CASCADE",
        ),
        _user_fk("reporter_id"),
        _user_fk("assignee_id"),
        _user_fk("assigned_by"),
        _user_fk("closed_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abuse_reports")),
    )
    op.create_index(
        "ux_abuse_reports_active_reporter",
        "abuse_reports",
        ["image_id", "reporter_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_index(
        "ix_abuse_reports_status_image",
        "abuse_reports",
        ["status", "image_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_abuse_reports_image", "abuse_reports", ["image_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_abuse_reports_image", table_name="abuse_reports")
    op.drop_index("ix_abuse_reports_status_image", table_name="abuse_reports")
    op.drop_index("ux_abuse_reports_active_reporter", table_name="abuse_reports")
    op.drop_table("abuse_reports")
