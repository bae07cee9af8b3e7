"""trash, restore and purge

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 09:00:00.000000
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Images soft-deleted before this revision get the default retention window
# (IMGHOST_TRASH_RETENTION's default); a migration cannot read the settings.
DEFAULT_RETENTION = dt.timedelta(days=30)


def upgrade() -> None:
    op.create_table(
        "trash",
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("deleted_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("purge_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("purging_since", imghost.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_trash_image_id_images"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_trash")),
    )
    op.create_index("ix_trash_purge_at", "trash", ["purge_at"], unique=False)
    op.create_table(
        "purged_images",
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=True),
        sa.Column("deleted_at", imghost.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purged_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_purged_images")),
    )
    op.create_index(op.f("ix_purged_images_owner_id"), "purged_images", ["owner_id"], unique=False)

    # Images already soft-deleted enter the trash with the default window.
    images = sa.table(
        "images",
        sa.column("id", sa.String()),
        sa.column("deleted_at", imghost.db.UTCDateTime(timezone=True)),
    )
    trash = sa.table(
        "trash",
        sa.column("image_id", sa.String()),
        sa.column("deleted_at", imghost.db.UTCDateTime(timezone=True)),
        sa.column("purge_at", imghost.db.UTCDateTime(timezone=True)),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(images.c.id, images.c.deleted_at).where(images.c.deleted_at.is_not(None))
    ).all()
    if rows:
        bind.execute(
            trash.insert(),
            [
                {"image_id": i, "deleted_at": at, "purge_at": at + DEFAULT_RETENTION}
                for i, at in rows
            ],
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_purged_images_owner_id"), table_name="purged_images")
    op.drop_table("purged_images")
    op.drop_index("ix_trash_purge_at", table_name="trash")
    op.drop_table("trash")
