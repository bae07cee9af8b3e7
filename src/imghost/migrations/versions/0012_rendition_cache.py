"""rendition cache: on-demand renditions leave the quota for a bounded, evicted cache

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:00:00.000000

Renditions made on request (transforms, AVIF presets) were counted against
the image owner's quota, so anonymous viewers could fill it. They are now a
cache the service owns (`renditions`), bounded and evicted, and count against
no quota. The ones already counted move over: their `quota_blobs` rows become
`renditions` rows (last used now) and their bytes leave the account's
`derivatives_bytes`. Pre-generated presets and the GPS-free copy stay counted.
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

quota_blobs = sa.table(
    "quota_blobs",
    sa.column("blob_key", sa.String()),
    sa.column("image_id", sa.String()),
    sa.column("account_id", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("bytes", sa.BigInteger()),
)
storage_usage = sa.table(
    "storage_usage",
    sa.column("account_id", sa.String()),
    sa.column("derivatives_bytes", sa.BigInteger()),
)
images = sa.table("images", sa.column("id", sa.String()))
renditions = sa.table(
    "renditions",
    sa.column("blob_key", sa.String()),
    sa.column("image_id", sa.String()),
    sa.column("account_id", sa.String()),
    sa.column("bytes", sa.BigInteger()),
    sa.column("created_at", imghost.db.UTCDateTime(timezone=True)),
    sa.column("last_used_at", imghost.db.UTCDateTime(timezone=True)),
)
# The keys of renditions made on request: `{owner}/{image}/derived/v{n}/t/…`
# (transforms) and `…/derived/v{n}/{preset}.avif` (AVIF presets, never
# pre-generated). Kept in step with processing.rendition_cache.is_rendition.
ON_REQUEST = sa.and_(
    quota_blobs.c.kind == "derivative",
    sa.or_(
        quota_blobs.c.blob_key.like("%/derived/v%/t/%"),
        quota_blobs.c.blob_key.like("%/derived/v%.avif"),
    ),
)


def upgrade() -> None:
    op.create_table(
        "renditions",
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_renditions_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("blob_key", name=op.f("pk_renditions")),
    )
    op.create_index("ix_renditions_image", "renditions", ["image_id"], unique=False)
    op.create_index("ix_renditions_last_used", "renditions", ["last_used_at"], unique=False)

    bind = op.get_bind()
    moved = bind.execute(
        sa.select(
            quota_blobs.c.blob_key,
            quota_blobs.c.image_id,
            quota_blobs.c.account_id,
            quota_blobs.c.bytes,
        )
        .select_from(quota_blobs.join(images, images.c.id == quota_blobs.c.image_id))
        .where(ON_REQUEST)
    ).all()
    if moved:
        now = dt.datetime.now(dt.UTC)
        bind.execute(
            renditions.insert(),
            [
                {
                    "blob_key": key,
                    "image_id": image_id,
                    "account_id": account_id,
                    "bytes": size,
                    "created_at": now,
                    "last_used_at": now,
                }
                for key, image_id, account_id, size in moved
            ],
        )
    # Every on-request row leaves the quota (those of images already gone too:
    # their bytes are gc's orphans, not anyone's usage).
    counted = (
        sa.select(sa.func.coalesce(sa.func.sum(quota_blobs.c.bytes), 0))
        .where(quota_blobs.c.account_id == storage_usage.c.account_id, ON_REQUEST)
        .scalar_subquery()
    )
    left = storage_usage.c.derivatives_bytes - counted
    # Never below zero, should the counters have drifted from the rows.
    bind.execute(
        storage_usage.update().values(derivatives_bytes=sa.case((left < 0, 0), else_=left))
    )
    bind.execute(quota_blobs.delete().where(ON_REQUEST))


def downgrade() -> None:
    # The cached renditions stay stored but uncounted (as before 0007 counted
    # derivatives); gc does not collect them while their image exists.
    op.drop_index("ix_renditions_last_used", table_name="renditions")
    op.drop_index("ix_renditions_image", table_name="renditions")
    op.drop_table("renditions")
