"""image versions: one row per stored blob of an image (original, GPS-free copy, presets)

Revision ID: 0014_image_versions
Revises: 0013_shared_visibility
Create Date: 2026-12-07 09:00:00.000000

`GET /v1/images/{id}` answers with the image's versions (kind, name, format,
width, height, size, URL), and later work (caches evicted by use, a scrub
against hashes, rendering from the nearest derivative) reads the same table.

Backfill, from what was recorded:
- originals: everything, from `images` (key, format, dimensions, size, hash);
- GPS-free copies: from `images.public_*` (same dimensions as the original);
- presets: for every `ready` image, its eight pre-generated keys
  (`…/derived/v1/{thumb,small,medium,large}.{jpg,webp}`), with the size
  `quota_blobs` recorded where it did (images processed since 0007). Their
  dimensions and hashes were never recorded: those rows have a null `sha256`
  until the maintenance pass (`processing.tasks.measure_versions`) reads the
  blob and fills them in (or drops the row if the blob is not there); the
  API lists a version only once it is measured.
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0014_image_versions"
down_revision: str | None = "0013_shared_visibility"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

images = sa.table(
    "images",
    sa.column("id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("format", sa.String()),
    sa.column("width", sa.Integer()),
    sa.column("height", sa.Integer()),
    sa.column("size", sa.BigInteger()),
    sa.column("sha256", sa.String()),
    sa.column("blob_key", sa.String()),
    sa.column("public_blob_key", sa.String()),
    sa.column("public_sha256", sa.String()),
    sa.column("public_size", sa.BigInteger()),
    sa.column("created_at", imghost.db.UTCDateTime(timezone=True)),
)
quota_blobs = sa.table(
    "quota_blobs", sa.column("blob_key", sa.String()), sa.column("bytes", sa.BigInteger())
)
versions = sa.table(
    "image_versions",
    sa.column("blob_key", sa.String()),
    sa.column("image_id", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("name", sa.String()),
    sa.column("format", sa.String()),
    sa.column("width", sa.Integer()),
    sa.column("height", sa.Integer()),
    sa.column("size", sa.BigInteger()),
    sa.column("sha256", sa.String()),
    sa.column("created_at", imghost.db.UTCDateTime(timezone=True)),
    sa.column("last_used_at", imghost.db.UTCDateTime(timezone=True)),
)
# What the processing job pre-generated under render version 1 (processing.variants).
PRESETS = [
    (name, ext, fmt)
    for name in ("thumb", "small", "medium", "large")
    for ext, fmt in (("jpg", "jpeg"), ("webp", "webp"))
]
BATCH = 200


def upgrade() -> None:
    op.create_table(
        "image_versions",
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_image_versions_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("blob_key", name=op.f("pk_image_versions")),
    )
    op.create_index("ix_image_versions_image", "image_versions", ["image_id"], unique=False)

    bind = op.get_bind()
    bind.execute(
        versions.insert().from_select(
            [c.name for c in versions.c],
            sa.select(
                images.c.blob_key,
                images.c.id,
                sa.literal("original"),
                sa.literal("original"),
                images.c.format,
                images.c.width,
                images.c.height,
                images.c.size,
                images.c.sha256,
                images.c.created_at,
                images.c.created_at,
            ),
        )
    )
    bind.execute(
        versions.insert().from_select(
            [c.name for c in versions.c],
            sa.select(
                images.c.public_blob_key,
                images.c.id,
                sa.literal("gps_free"),
                sa.literal("original"),
                images.c.format,
                images.c.width,
                images.c.height,
                images.c.public_size,
                images.c.public_sha256,
                images.c.created_at,
                images.c.created_at,
            ).where(images.c.public_blob_key.is_not(None), images.c.public_size.is_not(None)),
        )
    )
    _backfill_presets(bind)


def _backfill_presets(bind: sa.Connection) -> None:
    """Eight rows per ready image, a batch of images at a time (keyset by id)."""
    now = dt.datetime.now(dt.UTC)
    after = ""
    while True:
        batch = bind.execute(
            sa.select(images.c.id, images.c.blob_key)
            .where(
                images.c.status == "ready",
                images.c.id > after,
                images.c.blob_key.like("%/original"),
            )
            .order_by(images.c.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        after = batch[-1].id
        rows = [
            {
                "blob_key": f"{key.rsplit('/', 1)[0]}/derived/v1/{name}.{ext}",
                "image_id": image_id,
                "kind": "preset",
                "name": name,
                "format": fmt,
                "width": None,
                "height": None,
                "size": 0,
                "sha256": None,
                "created_at": now,
                "last_used_at": now,
            }
            for image_id, key in batch
            for name, ext, fmt in PRESETS
        ]
        known = dict(
            bind.execute(
                sa.select(quota_blobs.c.blob_key, quota_blobs.c.bytes).where(
                    quota_blobs.c.blob_key.in_([r["blob_key"] for r in rows])
                )
            ).all()
        )
        for row in rows:
            row["size"] = int(known.get(row["blob_key"], 0))
        bind.execute(versions.insert(), rows)


def downgrade() -> None:
    op.drop_index("ix_image_versions_image", table_name="image_versions")
    op.drop_table("image_versions")
