"""moderation: takedowns (451, legal hold) and suspensions

Revision ID: 0024_moderation
Revises: 0025_reports
Create Date: 2026-12-07 12:00:00.000000

`images.withheld` says why an image is kept from everyone but admins
(`takedown` or `suspended`); `users.suspended_at`/`suspension_reason` mark a
suspended account; `takedowns` records each takedown and its counter-notice.

What anyone may list (`listed`, the partial indexes' condition) now leaves
out withheld images, so the listing triggers of 0010/0011 are replaced by the
same triggers with the wider condition, also firing on `withheld`. No
backfill: no image is withheld yet, so every `listed` copy is already right.
Columns are added with plain ALTER TABLE (no SQLite batch rebuild, which
would drop the triggers); downgrading drops them in place (SQLite 3.35+).
"""

# The trigger SQL is built from this module's own constants, never from input.
# ruff: noqa: S608

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0024_moderation"
down_revision: str | None = "0025_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_LISTED = "visibility = 'public' AND status = 'ready' AND deleted_at IS NULL"
NEW_LISTED = f"{OLD_LISTED} AND withheld IS NULL"
OLD_COLUMNS = "visibility, status, deleted_at"
NEW_COLUMNS = f"{OLD_COLUMNS}, withheld"


def _on(row: str, listed: str) -> str:
    """The listed condition over one row (``new``, ``NEW``, a table alias)."""
    for column in ("visibility", "status", "deleted_at", "withheld"):
        listed = listed.replace(column, f"{row}.{column}")
    return listed


def _sqlite(listed: str, columns: str) -> list[str]:
    return [
        f"""CREATE TRIGGER image_tags_denormalize AFTER INSERT ON image_tags BEGIN
        UPDATE image_tags SET (owner_id, created_at, listed) = (
            SELECT owner_id, created_at, ({listed})
            FROM images WHERE id = new.image_id)
        WHERE image_id = new.image_id AND tag = new.tag;
    END""",
        f"""CREATE TRIGGER images_listed AFTER UPDATE OF {columns} ON images
    BEGIN
        UPDATE image_tags SET listed = ({_on("new", listed)})
        WHERE image_id = new.id;
    END""",
        f"""CREATE TRIGGER images_listed_search
    AFTER UPDATE OF {columns} ON images BEGIN
        UPDATE image_search SET listed = ({_on("new", listed)})
        WHERE image_id = new.id AND listed IS NOT ({_on("new", listed)});
    END""",
        f"""CREATE TRIGGER image_search_copies AFTER INSERT ON image_search
    WHEN new.owner_id IS NULL OR new.created_at IS NULL BEGIN
        UPDATE image_search SET (owner_id, created_at, listed) = (
            SELECT owner_id, created_at, ({listed})
            FROM images WHERE id = new.image_id)
        WHERE rowid = new.rowid;
    END""",
    ]


def _postgres(listed: str, columns: str) -> list[str]:
    return [
        f"""CREATE FUNCTION image_tags_denormalize() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        SELECT owner_id, created_at, ({listed})
          INTO NEW.owner_id, NEW.created_at, NEW.listed
          FROM images WHERE id = NEW.image_id;
        RETURN NEW;
    END $$""",
        """CREATE TRIGGER image_tags_denormalize BEFORE INSERT ON image_tags
        FOR EACH ROW EXECUTE FUNCTION image_tags_denormalize()""",
        f"""CREATE FUNCTION images_listed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE image_tags SET listed = ({_on("NEW", listed)})
        WHERE image_id = NEW.id;
        RETURN NULL;
    END $$""",
        f"""CREATE TRIGGER images_listed AFTER UPDATE OF {columns} ON images
        FOR EACH ROW EXECUTE FUNCTION images_listed()""",
        f"""CREATE FUNCTION images_listed_search() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE image_search SET listed = ({_on("NEW", listed)})
        WHERE image_id = NEW.id AND listed IS DISTINCT FROM ({_on("NEW", listed)});
        RETURN NULL;
    END $$""",
        f"""CREATE TRIGGER images_listed_search AFTER UPDATE OF {columns}
        ON images FOR EACH ROW EXECUTE FUNCTION images_listed_search()""",
        f"""CREATE FUNCTION image_search_copies() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.owner_id IS NULL OR NEW.created_at IS NULL THEN
            SELECT owner_id, created_at, ({listed})
              INTO NEW.owner_id, NEW.created_at, NEW.listed
              FROM images WHERE id = NEW.image_id;
        END IF;
        RETURN NEW;
    END $$""",
        """CREATE TRIGGER image_search_copies BEFORE INSERT ON image_search
        FOR EACH ROW EXECUTE FUNCTION image_search_copies()""",
    ]


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in (
            "image_tags_denormalize",
            "images_listed",
            "images_listed_search",
            "image_search_copies",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        return
    for name, table in (
        ("image_tags_denormalize", "image_tags"),
        ("images_listed", "images"),
        ("images_listed_search", "images"),
        ("image_search_copies", "image_search"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def _listing(listed: str, columns: str) -> None:
    """Triggers and partial indexes for one meaning of ``listed``."""
    _drop_triggers()
    build = _sqlite if op.get_bind().dialect.name == "sqlite" else _postgres
    for statement in build(listed, columns):
        op.execute(statement)
    condition = sa.text(listed)
    for name, columns_of_index in (
        ("ix_images_listed_created", ["created_at", "id"]),
        ("ix_images_listed_views", ["view_count", "id"]),
    ):
        op.drop_index(name, table_name="images")
        op.create_index(
            name,
            "images",
            columns_of_index,
            sqlite_where=condition,
            postgresql_where=condition,
        )


def upgrade() -> None:
    op.add_column("images", sa.Column("withheld", sa.String(length=16), nullable=True))
    op.add_column(
        "users", sa.Column("suspended_at", imghost.db.UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column("users", sa.Column("suspension_reason", sa.String(length=500), nullable=True))
    op.create_table(
        "takedowns",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=True),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("counter_statement", sa.Text(), nullable=True),
        sa.Column("counter_contact", sa.String(length=500), nullable=True),
        sa.Column("counter_at", imghost.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lifted_at", imghost.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_takedowns_image_id_images"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_takedowns")),
    )
    op.create_index(op.f("ix_takedowns_image_id"), "takedowns", ["image_id"], unique=False)
    op.create_index(op.f("ix_takedowns_owner_id"), "takedowns", ["owner_id"], unique=False)
    active = sa.text("lifted_at IS NULL")
    op.create_index(
        "ix_takedowns_active",
        "takedowns",
        ["image_id"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    _listing(NEW_LISTED, NEW_COLUMNS)


def downgrade() -> None:
    _listing(OLD_LISTED, OLD_COLUMNS)
    op.drop_index("ix_takedowns_active", table_name="takedowns")
    op.drop_index(op.f("ix_takedowns_owner_id"), table_name="takedowns")
    op.drop_index(op.f("ix_takedowns_image_id"), table_name="takedowns")
    op.drop_table("takedowns")
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+), no batch rebuild.
    for table, name in (
        ("users", "suspension_reason"),
        ("users", "suspended_at"),
        ("images", "withheld"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
