"""listing paths: sort keys and the public flag copied into image_tags, partial indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 09:20:00.000000

A tag listing sorted by date must walk an index in date order and stop after
one page; with the date only on `images`, the database had to fetch every
image of a popular tag and sort them. `image_tags` now carries the image's
owner and upload time (both never change) and `listed` (public, ready, not
deleted — what anyone may see), kept by triggers on both tables so that no
write path can forget them. NOTE: an SQLite batch rebuild of `images` or
`image_tags` drops their triggers; a migration that rebuilds one must run
`create_triggers` again (tests/integration/test_migrations.py checks they
exist at head).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LISTED_SQL = "visibility = 'public' AND status = 'ready' AND deleted_at IS NULL"

SQLITE_TRIGGERS = [
    """CREATE TRIGGER image_tags_denormalize AFTER INSERT ON image_tags BEGIN
        UPDATE image_tags SET (owner_id, created_at, listed) = (
            SELECT owner_id, created_at,
                   (visibility = 'public' AND status = 'ready' AND deleted_at IS NULL)
            FROM images WHERE id = new.image_id)
        WHERE image_id = new.image_id AND tag = new.tag;
    END""",
    """CREATE TRIGGER images_listed AFTER UPDATE OF visibility, status, deleted_at ON images
    BEGIN
        UPDATE image_tags SET listed = (
            new.visibility = 'public' AND new.status = 'ready' AND new.deleted_at IS NULL)
        WHERE image_id = new.id;
    END""",
]
POSTGRES_TRIGGERS = [
    """CREATE FUNCTION image_tags_denormalize() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        SELECT owner_id, created_at,
               (visibility = 'public' AND status = 'ready' AND deleted_at IS NULL)
          INTO NEW.owner_id, NEW.created_at, NEW.listed
          FROM images WHERE id = NEW.image_id;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER image_tags_denormalize BEFORE INSERT ON image_tags
        FOR EACH ROW EXECUTE FUNCTION image_tags_denormalize()""",
    """CREATE FUNCTION images_listed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE image_tags SET listed = (
            NEW.visibility = 'public' AND NEW.status = 'ready' AND NEW.deleted_at IS NULL)
        WHERE image_id = NEW.id;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER images_listed AFTER UPDATE OF visibility, status, deleted_at ON images
        FOR EACH ROW EXECUTE FUNCTION images_listed()""",
]


def create_triggers() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGERS:
        op.execute(statement)


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS image_tags_denormalize")
        op.execute("DROP TRIGGER IF EXISTS images_listed")
    else:
        op.execute("DROP TRIGGER IF EXISTS image_tags_denormalize ON image_tags")
        op.execute("DROP TRIGGER IF EXISTS images_listed ON images")
        op.execute("DROP FUNCTION IF EXISTS image_tags_denormalize()")
        op.execute("DROP FUNCTION IF EXISTS images_listed()")


def upgrade() -> None:
    with op.batch_alter_table("image_tags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("listed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(
        "UPDATE image_tags SET owner_id = i.owner_id, created_at = i.created_at, "
        "listed = (i.visibility = 'public' AND i.status = 'ready' AND i.deleted_at IS NULL) "
        "FROM images AS i WHERE i.id = image_tags.image_id"
    )
    with op.batch_alter_table("image_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_image_tags_tag_image")
        batch_op.create_index(
            "ix_image_tags_listed", ["tag", "listed", "created_at", "image_id"], unique=False
        )
        batch_op.create_index(
            "ix_image_tags_owner", ["tag", "owner_id", "created_at", "image_id", "listed"]
        )
    listed = sa.text(LISTED_SQL)
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_owner_created")
        batch_op.drop_index("ix_images_visibility_created")
        batch_op.drop_index("ix_images_view_count")
        batch_op.create_index("ix_images_owner_created", ["owner_id", "created_at", "id"])
        batch_op.create_index(
            "ix_images_listed_created",
            ["created_at", "id"],
            sqlite_where=listed,
            postgresql_where=listed,
        )
        batch_op.create_index(
            "ix_images_listed_views",
            ["view_count", "id"],
            sqlite_where=listed,
            postgresql_where=listed,
        )
        # Most images have no org: with the NULLs in it, SQLite's statistics
        # make the plain org_id index look useless and it scans the table.
        in_org = sa.text("org_id IS NOT NULL")
        batch_op.create_index(
            "ix_images_org_created",
            ["org_id", "created_at", "id"],
            sqlite_where=in_org,
            postgresql_where=in_org,
        )
        # The trash sweep looks for deleted images; they are few.
        deleted = sa.text("deleted_at IS NOT NULL")
        batch_op.create_index(
            "ix_images_deleted", ["deleted_at"], sqlite_where=deleted, postgresql_where=deleted
        )
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_deleted")
        batch_op.drop_index("ix_images_org_created")
        batch_op.drop_index("ix_images_listed_views")
        batch_op.drop_index("ix_images_listed_created")
        batch_op.drop_index("ix_images_owner_created")
        batch_op.create_index("ix_images_view_count", ["view_count", "id"])
        batch_op.create_index(
            "ix_images_visibility_created", ["visibility", "status", "created_at"]
        )
        batch_op.create_index("ix_images_owner_created", ["owner_id", "created_at"])
    with op.batch_alter_table("image_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_image_tags_owner")
        batch_op.drop_index("ix_image_tags_listed")
        batch_op.create_index("ix_image_tags_tag_image", ["tag", "image_id"])
        batch_op.drop_column("listed")
        batch_op.drop_column("created_at")
        batch_op.drop_column("owner_id")
